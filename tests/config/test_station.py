"""Station files: strict loading; every error names the file, the key and what is allowed."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from andreev.config import ROLES, ConfigError, load_station_config
from tests.conftest import SIM_STATION


def edited(tmp_path: Path, edit) -> Path:
    data = yaml.safe_load(SIM_STATION.read_text())
    edit(data)
    path = tmp_path / "station.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_station_files_load() -> None:
    config = load_station_config(SIM_STATION)
    assert set(config.instruments) == {"lockin", "bridge", "stm"}
    assert config.speedup == 1000
    assert config.safety.max_setpoint_current == 1e-6
    example = load_station_config(SIM_STATION.parent / "fridge.example.yaml")
    assert example.speedup == 1 and example.sim is None


@pytest.mark.parametrize(
    ("edit", "key", "allowed"),
    [
        (lambda d: d["safety"].update(max_bias_v=1), "safety.max_bias_v", "allowed: max_bias"),
        (
            lambda d: d["safety"].update(max_temperature=400.0),
            "safety.max_temperature",
            "0.01 to 300 K",
        ),
        (
            lambda d: d["safety"].update(max_heater_range=2.5),
            "safety.max_heater_range",
            "an integer from 0 to 8",
        ),
        (lambda d: d["safety"].update(max_bias="big"), "safety.max_bias", "a number"),
        (
            lambda d: d["safety"].update(min_feedback_bias=0.09, max_bias=0.05),
            "safety.min_feedback_bias",
            "below safety.max_bias",
        ),
        (lambda d: d.update(magnets={}), "magnets", "allowed: clock, instruments"),
        (
            lambda d: d["instruments"]["lockin"].update(adress="x"),
            "instruments.lockin.adress",
            "allowed: add_parameters, address",
        ),
        (
            lambda d: d["instruments"]["lockin"]["init"].update(divider=1),
            "instruments.lockin.init.divider",
            "modulation_divider",
        ),
        (
            lambda d: d["instruments"]["stm"].update(type="andreev.instruments.nope.STM"),
            "instruments.stm.type",
            "cannot import",
        ),
        (lambda d: d["clock"].update(speedup=0), "clock.speedup", "1 to 10000"),
        (
            lambda d: d["instruments"]["stm"]["init"].update(z_limits=[-1e-7, 1e-7]),
            "instruments.stm.init.z_limits",
            "high > low",
        ),
        (
            lambda d: d["instruments"]["stm"]["init"].update(z_limits=[1e-7]),
            "instruments.stm.init.z_limits",
            "expected [high, low] in m",
        ),
        (
            lambda d: d["instruments"]["stm"]["init"].update(z_limits=[1e-7, float("nan")]),
            "instruments.stm.init.z_limits[1]",
            "nan is not allowed",
        ),
        (
            lambda d: d["instruments"]["lockin"].update(
                parameters={"amplitude": {"limits": [1, 0]}}
            ),
            "instruments.lockin.parameters.amplitude.limits",
            "low < high",
        ),
    ],
)
def test_bad_station_names_file_key_and_allowed(
    tmp_path: Path, edit, key: str, allowed: str
) -> None:
    path = edited(tmp_path, edit)
    with pytest.raises(ConfigError) as info:
        load_station_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}: {key}:"), message
    assert allowed in message, message


def test_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_station_config(tmp_path / "nope.yaml")


@pytest.mark.parametrize("role", ROLES)
def test_a_missing_role_fails_at_load_time(tmp_path: Path, role: str) -> None:
    path = edited(tmp_path, lambda d: d["instruments"].pop(role))
    with pytest.raises(ConfigError) as info:
        load_station_config(path)
    assert str(info.value).startswith(f"{path}: instruments.{role}: missing"), info.value


def test_a_misspelt_role_is_pointed_at(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda d: d["instruments"].update(lockn=d["instruments"].pop("lockin")))
    with pytest.raises(ConfigError, match=r"instruments\.lockin: missing.*'lockn'"):
        load_station_config(path)


def test_unknown_key_suggests_the_closest(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda d: d["instruments"]["lockin"].update(adress="x"))
    with pytest.raises(ConfigError, match="did you mean 'address'"):
        load_station_config(path)


def test_a_number_in_quotes_is_refused_with_the_reason(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda d: d["safety"].update(max_bias="0.05"))
    with pytest.raises(ConfigError) as info:
        load_station_config(path)
    assert "safety.max_bias" in str(info.value)
    assert "the string '0.05': write it without quotes" in str(info.value)


def test_station_roles_are_the_ones_the_drivers_side_uses() -> None:
    from andreev.instruments import roles

    assert roles.ROLES is ROLES and (roles.LOCKIN, roles.BRIDGE, roles.STM) == ROLES


@pytest.mark.parametrize(
    ("addresses", "sim", "allowed"),
    [
        (("TCPIP0::127.0.0.1::1::SOCKET", "TCPIP0::localhost::2::SOCKET", "127.0.0.1:3"), 0, 1),
        (("GPIB0::8::INSTR", "TCPIP0::127.0.0.1::2::SOCKET", "127.0.0.1:3"), 0, 0),
        (("TCPIP0::192.0.2.1::1::SOCKET", "TCPIP0::127.0.0.1::2::SOCKET", "127.0.0.1:3"), 0, 0),
        (("TCPIP0::127.0.0.1::1::SOCKET", "TCPIP0::127.0.0.1::2::SOCKET", "192.0.2.3:3"), 0, 0),
        (("GPIB0::8::INSTR", "TCPIP0::192.0.2.1::2::SOCKET", "192.0.2.3:3"), 1, 1),
    ],
)
def test_speedup_only_for_the_simulated_fridge(
    tmp_path: Path, addresses: tuple[str, str, str], sim: int, allowed: int
) -> None:
    def edit(data: dict) -> None:
        for role, address in zip(("lockin", "bridge", "stm"), addresses, strict=True):
            data["instruments"][role]["address"] = address
        if not sim:
            data.pop("sim")

    path = edited(tmp_path, edit)
    if allowed:
        assert load_station_config(path).speedup == 1000
    else:
        with pytest.raises(ConfigError, match=r"clock.speedup: 1000 is only allowed"):
            load_station_config(path)


def test_speedup_1_is_always_allowed(tmp_path: Path) -> None:
    def edit(data: dict) -> None:
        data.pop("sim")
        data["clock"]["speedup"] = 1
        data["instruments"]["lockin"]["address"] = "GPIB0::8::INSTR"

    assert load_station_config(edited(tmp_path, edit)).speedup == 1


def test_notify_is_an_argv_list(tmp_path: Path) -> None:
    path = edited(tmp_path, lambda d: d.update(notify=["notify-send", "andreev"]))
    assert load_station_config(path).notify == ("notify-send", "andreev")
    path = edited(tmp_path, lambda d: d.update(notify=["ok", 3]))
    with pytest.raises(ConfigError, match="notify: expected a command as a list of strings"):
        load_station_config(path)


def test_a_driver_type_must_be_a_qcodes_instrument(tmp_path: Path) -> None:
    import subprocess

    called = []
    real = subprocess.Popen.__init__

    def spy(self, *args, **kwargs):  # pragma: no cover - must never run
        called.append(args)
        real(self, *args, **kwargs)

    path = edited(tmp_path, lambda d: d["instruments"]["lockin"].update(type="subprocess.Popen"))
    subprocess.Popen.__init__ = spy  # type: ignore[method-assign]
    try:
        with pytest.raises(ConfigError, match="is not a qcodes Instrument class"):
            load_station_config(path)
    finally:
        subprocess.Popen.__init__ = real  # type: ignore[method-assign]
    assert not called
