"""The one set of validation rules: numbers, keys with "did you mean …?", the speedup range."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from andreev.config import (
    SPEEDUP_RANGE,
    ConfigError,
    check_keys,
    check_number,
    check_speedup,
    read_yaml,
)

FILE = Path("station.yaml")


@pytest.mark.parametrize(
    ("value", "kind", "expected"),
    [(1, float, 1.0), (2.5, float, 2.5), (3, int, 3), (4.0, int, 4), (0, float, 0.0)],
)
def test_numbers_in_range_pass_as_their_kind(value, kind, expected) -> None:
    got = check_number(FILE, "a.b", value, kind, 0, 10)
    assert got == expected and type(got) is kind


@pytest.mark.parametrize(
    ("value", "kind", "problem"),
    [
        ("0.5", float, "got the string '0.5': write it without quotes"),
        ("big", float, "got the string 'big'"),
        (True, float, "expected a number from 0 to 10 V, got True"),
        (None, float, "expected a number"),
        ([1], float, "expected a number"),
        (2.5, int, "expected an integer from 0 to 10 V, got 2.5"),
        (11, float, "11 is outside the allowed range: a number from 0 to 10 V"),
        (-1e-9, float, "outside the allowed range"),
        (math.nan, float, "outside the allowed range"),
        (math.inf, float, "outside the allowed range"),
    ],
)
def test_bad_numbers_name_file_key_and_allowed(value, kind, problem) -> None:
    with pytest.raises(ConfigError) as info:
        check_number(FILE, "a.b", value, kind, 0, 10, "V")
    assert str(info.value).startswith("station.yaml: a.b: "), info.value
    assert problem in str(info.value), info.value


def test_unknown_key_suggests_the_closest_allowed_one() -> None:
    with pytest.raises(ConfigError) as info:
        check_keys(FILE, "safety", {"max_bais": 1}, ["max_bias", "max_temperature"])
    assert str(info.value) == (
        "station.yaml: safety.max_bais: unknown key; did you mean 'max_bias'? "
        "allowed: max_bias, max_temperature"
    )


def test_unknown_key_without_a_close_one_lists_the_allowed() -> None:
    with pytest.raises(ConfigError) as info:
        check_keys(FILE, "", {"magnets": {}}, ["clock", "instruments"])
    assert str(info.value) == "station.yaml: magnets: unknown key; allowed: clock, instruments"


def test_check_keys_wants_a_mapping() -> None:
    with pytest.raises(ConfigError, match="clock: expected a mapping, got list"):
        check_keys(FILE, "clock", [1], ["speedup"])
    assert check_keys(FILE, "clock", {"speedup": 1}, ["speedup"]) == {"speedup": 1}


def test_one_speedup_range() -> None:
    from andreev.sim.config import MAX_SPEEDUP, MIN_SPEEDUP

    low, high = SPEEDUP_RANGE
    assert (low, high) == (1.0, 1e4) == (MIN_SPEEDUP, MAX_SPEEDUP)  # the sim obeys the same rule
    assert check_speedup(FILE, "clock.speedup", 1000) == 1000.0
    for bad in (0, 0.5, 2e4, "1000"):
        with pytest.raises(ConfigError, match=r"clock\.speedup"):
            check_speedup(FILE, "clock.speedup", bad)


def test_read_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("a: [1,\n")
    with pytest.raises(ConfigError, match=r"x.yaml: \(file\): not valid YAML"):
        read_yaml(path)
    path.write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a YAML mapping"):
        read_yaml(path)
    path.write_text("a: 1\n")
    assert read_yaml(path) == ({"a": 1}, "a: 1\n")


def _bomb(levels: int) -> str:
    text = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n'
    for i in range(levels):
        text += f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n"
    return text


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    import time

    from andreev.config import parse_yaml

    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"YAML aliases expand to 4\.9e\+08 values"):
        parse_yaml(_bomb(8), FILE)
    assert time.monotonic() - started < 1.0
    assert len(parse_yaml(_bomb(1), FILE)["b"]) == 9  # a few aliases are fine


def test_too_many_aliases_and_recursive_aliases_are_refused() -> None:
    from andreev.config import parse_yaml
    from andreev.config.rules import MAX_ALIASES

    many = "a: &a 1\nb: [" + ", ".join(["*a"] * (MAX_ALIASES + 1)) + "]\n"
    with pytest.raises(ConfigError, match=f"{MAX_ALIASES + 1} YAML aliases; at most"):
        parse_yaml(many, FILE)
    with pytest.raises(ConfigError, match="recursive alias"):
        parse_yaml("a: &a [1, *a]\n", FILE)


def test_merge_keys_and_plain_aliases_still_work() -> None:
    from andreev.config import parse_yaml

    data = parse_yaml("base: &b {P: 1, I: 2}\nband:\n  <<: *b\n  D: 3\n", FILE)
    assert data["band"] == {"P": 1, "I": 2, "D": 3}


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("a: 1\nb: 2\na: 3\n", "a", "duplicate key (line 3)"),
        ("s:\n  x: 1\n  x: 2\n", "s.x", "duplicate key"),
        ("x: .nan\n", "x", "nan is not allowed"),
        ("x: {y: [1, -.inf]}\n", "x.y[1]", "-inf is not allowed"),
        ("!!python/object/apply:os.system ['true']\n", "(file)", "not valid YAML"),
        ("x: !!python/name:os.system\n", "(file)", "not valid YAML"),
    ],
)
def test_strict_yaml_refuses(text: str, key: str, problem: str) -> None:
    from andreev.config import parse_yaml

    with pytest.raises(ConfigError) as info:
        parse_yaml(text, FILE)
    assert str(info.value).startswith(f"station.yaml: {key}: "), info.value
    assert problem in str(info.value)


def test_binary_files_are_one_config_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.yaml"
    path.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match="not a UTF-8 text file"):
        read_yaml(path)
    path.write_bytes(b"a: 1\x00\n")
    with pytest.raises(ConfigError, match="NUL bytes"):
        read_yaml(path)
