"""The battery of bad inputs (issue 13): every bad station file, experiment file or
command line ends in exit status 2 and ONE line on the terminal that names the file's
key (or the option) and what is allowed; no traceback; nothing written (no run file, no
output folder, no lock file left behind).

Each case runs the real command line in-process (``andreev.cli.main``) *without*
``--dry-run``: a refusal must come before anything is connected or created. A few run
through ``python -m andreev`` in a subprocess, as an operator would.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from andreev.cli import main
from tests.conftest import SIM_STATION

ROOT = Path(__file__).resolve().parents[2]

EXPERIMENT = {
    "procedure": "SetpointLadder",
    "name": "battery",
    "parameters": {
        "ladder_start": 1.0e-9,
        "ladder_stop": 1.0e-8,
        "ladder_steps": 2,
        "bias_start": -1.0e-3,
        "bias_stop": 1.0e-3,
        "bias_points": 11,
        "tip_settle": 0.1,
    },
}
ALIAS_BOMB = 'a: &a ["x","x","x","x","x","x","x","x","x"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8)
)
GARBAGE = bytes(range(256)) * 4


def station_text() -> str:
    return SIM_STATION.read_text()


def station_data() -> dict:
    return yaml.safe_load(station_text())


@dataclass
class Case:
    """One bad input: how to write the station and experiment files, the extra command
    line, and what the one line must contain."""

    name: str
    expect: str
    station: Callable[[dict], object] | str | bytes | None = None
    experiment: Callable[[dict], object] | str | bytes | None = None
    argv: Callable[[Path], list[str]] = field(default=lambda tmp: [])
    replace_argv: Callable[[Path, Path, Path], list[str]] | None = None


def _set(path: str, value: object) -> Callable[[dict], None]:
    """An edit that sets ``a.b.c`` (list indices as numbers) to ``value``."""

    def edit(data: dict) -> None:
        *parents, last = path.split(".")
        target: object = data
        for part in parents:
            target = target[int(part)] if isinstance(target, list) else target[part]  # type: ignore[index]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value  # type: ignore[index]

    return edit


def _pop(path: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        *parents, last = path.split(".")
        target = data
        for part in parents:
            target = target[part]
        target.pop(last)

    return edit


def _cut_short(tmp: Path) -> Path:
    """An HDF5 file (1.10 format) cut to its first kilobyte, as a partial copy leaves it."""
    import h5py
    import numpy as np

    path = tmp / "cut.h5"
    with h5py.File(path, "w", libver=("v110", "v110")) as f:
        f["entry/data"] = np.arange(4096.0)
    with open(path, "r+b") as fh:
        fh.truncate(1024)
    return path


def _real_fridge(data: dict) -> None:
    data.pop("sim")
    data["instruments"]["lockin"]["address"] = "GPIB0::8::INSTR"
    data["instruments"]["bridge"]["address"] = "TCPIP0::192.0.2.11::7777::SOCKET"
    data["instruments"]["stm"]["address"] = "192.0.2.12:6501"


def _outer(dotted: str) -> Callable[[dict], None]:
    def edit(data: dict) -> None:
        data["procedure"] = "ParameterSeries"
        data["parameters"]["outer_parameter"] = dotted
        data["parameters"]["outer_values"] = [0.0, 1.0]

    return edit


def _several_limits(data: dict) -> None:
    data["parameters"].update(bias_start=-0.5, bias_stop=0.5, ladder_stop=1.0e-5)


DUPLICATE_SAFETY = station_text().replace("  max_bias: 0.1 ", "  max_bias: 0.1\n  max_bias: 10.0 ")
DUPLICATE_EXPERIMENT = yaml.safe_dump(EXPERIMENT, sort_keys=False).replace(
    "  bias_points: 11\n", "  bias_points: 11\n  bias_points: 12\n"
)

CASES = [
    # -- station files ------------------------------------------------------------------
    Case(
        "instrument entry not a mapping",
        "instruments.lockin: expected a mapping",
        station=_set("instruments.lockin", "SR830"),
    ),
    Case(
        "heater band with a text edge",
        "instruments.bridge.init.bands[0].upper",
        station=_set("instruments.bridge.init.bands.0.upper", "high"),
    ),
    Case(
        "band range above 8",
        "instruments.bridge.init.bands[1].range",
        station=_set("instruments.bridge.init.bands.1.range", 9),
    ),
    Case(
        "band missing P",
        "instruments.bridge.init.bands[0]: missing P",
        station=lambda d: d["instruments"]["bridge"]["init"]["bands"][0].pop("P"),
    ),
    Case(
        "bands not a list",
        "instruments.bridge.init.bands",
        station=_set("instruments.bridge.init.bands", "auto"),
    ),
    Case(
        "modulation_divider 0",
        "instruments.lockin.init.modulation_divider",
        station=_set("instruments.lockin.init.modulation_divider", 0),
    ),
    Case(
        "modulation_divider NaN",
        "instruments.lockin.init.modulation_divider",
        station=station_text().replace(
            "modulation_divider: 1.0e-3   #", "modulation_divider: .nan   #"
        ),
    ),
    Case(
        "stm z_limits reversed",
        "instruments.stm.init.z_limits: [high, low] needs high > low",
        station=_set("instruments.stm.init.z_limits", [-1.0e-7, 1.0e-7]),
    ),
    Case(
        "stm z_limits as text",
        "instruments.stm.init.z_limits[0]: expected a number",
        station=_set("instruments.stm.init.z_limits", ["high", -1.0e-7]),
    ),
    Case("station without stm", "instruments.stm: missing", station=_pop("instruments.stm")),
    Case(
        "station without lockin", "instruments.lockin: missing", station=_pop("instruments.lockin")
    ),
    Case("binary garbage station", "(file): not a UTF-8 text file", station=GARBAGE),
    Case("duplicate max_bias", "safety.max_bias: duplicate key", station=DUPLICATE_SAFETY),
    Case(
        "type subprocess.Popen",
        "instruments.lockin.type: subprocess.Popen is not a qcodes",
        station=_set("instruments.lockin.type", "subprocess.Popen"),
    ),
    Case(
        "type a function",
        "instruments.stm.type: os.system is not a qcodes",
        station=_set("instruments.stm.type", "os.system"),
    ),
    Case(
        "type not dotted",
        "instruments.stm.type: expected a dotted class path",
        station=_set("instruments.stm.type", "Nanonis"),
    ),
    Case(
        "type not importable",
        "instruments.bridge.type: cannot import",
        station=_set("instruments.bridge.type", "andreev.instruments.nope.Bridge"),
    ),
    Case("alias bomb station", "(file): YAML aliases expand", station=ALIAS_BOMB),
    Case(
        "python tag in station",
        "(file): not valid YAML",
        station="!!python/object/apply:os.system ['echo hi']\n",
    ),
    Case(
        "speedup 1000 at a real fridge", "clock.speedup: 1000 is only allowed", station=_real_fridge
    ),
    Case("speedup as text", "clock.speedup", station=_set("clock.speedup", "fast")),
    Case(
        "NaN max_bias",
        "safety.max_bias: nan is not allowed",
        station=station_text().replace("max_bias: 0.1 ", "max_bias: .nan "),
    ),
    Case(
        "infinite max_temperature",
        "safety.max_temperature",
        station=station_text().replace("max_temperature: 4.0", "max_temperature: .inf"),
    ),
    Case("unknown top-level key", "magnets: unknown key", station=_set("magnets", {})),
    Case(
        "empty instruments",
        "instruments: expected a mapping of at least one",
        station=_set("instruments", {}),
    ),
    Case("safety a list", "safety: expected a mapping", station=_set("safety", [1, 2])),
    Case(
        "heater range 2.5", "safety.max_heater_range", station=_set("safety.max_heater_range", 2.5)
    ),
    Case(
        "notify not a list",
        "notify: expected a command as a list",
        station=_set("notify", "mail me"),
    ),
    Case(
        "unknown instrument key",
        "instruments.lockin.adress: unknown key; did you mean",
        station=_set("instruments.lockin.adress", "x"),
    ),
    Case("station not YAML", "(file): not valid YAML", station="instruments: [\n"),
    Case("station empty", "(file): expected a YAML mapping", station=""),
    # -- experiment files ---------------------------------------------------------------
    Case(
        "bias_points 100.5",
        "parameters.bias_points",
        experiment=_set("parameters.bias_points", 100.5),
    ),
    Case(
        "NaN bias_start",
        "parameters.bias_start: nan is not allowed",
        experiment=_set("parameters.bias_start", float("nan")),
    ),
    Case(
        "NaN ladder_stop",
        "parameters.ladder_stop: nan is not allowed",
        experiment=_set("parameters.ladder_stop", float("nan")),
    ),
    Case(
        "NaN settle_precision",
        "parameters.settle_precision: nan",
        experiment=_set("parameters.settle_precision", float("nan")),
    ),
    Case(
        "infinite temperature in a list",
        "parameters.temperatures[1]: inf",
        experiment=lambda d: (
            d.update(procedure="TemperatureSeries"),
            d["parameters"].update(temperatures=[0.05, float("inf")]),
        ),
    ),
    Case(
        "duplicate bias_points",
        "parameters.bias_points: duplicate key",
        experiment=DUPLICATE_EXPERIMENT,
    ),
    Case(
        "procedure typo",
        "procedure: 'SetpointLader': did you mean 'SetpointLadder'",
        experiment=_set("procedure", "SetpointLader"),
    ),
    Case(
        "parameter typo",
        "parameters.bias_pionts: unknown key; did you mean 'bias_points'",
        experiment=_set("parameters.bias_pionts", 3),
    ),
    Case("binary garbage experiment", "(file): not a UTF-8 text file", experiment=GARBAGE),
    Case("alias bomb experiment", "(file): YAML aliases expand", experiment=ALIAS_BOMB),
    Case(
        "safe_heater_range above the limit",
        "parameters.safe_heater_range: heater range 7 outside 0 … safety.max_heater_range = 6",
        experiment=_set("parameters.safe_heater_range", 7),
    ),
    Case(
        "time constant the SR830 lacks",
        "parameters.lockin_time_constant: time constant 0.02 s is not one the SR830 has",
        experiment=_set("parameters.lockin_time_constant", 0.02),
    ),
    Case(
        "bias beyond max_bias", "parameters.bias_stop", experiment=_set("parameters.bias_stop", 0.5)
    ),
    Case(
        "several limits at once",
        "parameters.bias_start: bias -0.5 V exceeds safety.max_bias = ±0.1 V (and 2 more: "
        "parameters.bias_stop, parameters.ladder_stop) [limits from",
        experiment=_several_limits,
    ),
    Case(
        "several limits in a dry run",
        "(and 2 more: parameters.bias_stop, parameters.ladder_stop)",
        experiment=_several_limits,
        argv=lambda tmp: ["--dry-run"],
    ),
    Case(
        "several limits through -p",
        "parameters.bias_stop: bias 0.5 V exceeds safety.max_bias = ±0.1 V (and 1 more: "
        "parameters.safe_heater_range)",
        argv=lambda tmp: ["-p", "bias_stop=0.5", "-p", "safe_heater_range=7"],
    ),
    Case(
        "outer_parameter of a missing instrument",
        "parameters.outer_parameter: 'magnet.field'",
        experiment=_outer("magnet.field"),
    ),
    Case("outer_parameter the driver lacks", "did you mean 'bias'", experiment=_outer("stm.biass")),
    Case(
        "outer_parameter without a dot", "expected INSTRUMENT.PARAMETER", experiment=_outer("field")
    ),
    Case("bad name", "name: 'a b'", experiment=_set("name", "a b")),
    Case(
        "parameters a list", "parameters: expected a mapping", experiment=_set("parameters", [1, 2])
    ),
    Case("experiment a list", "(file): expected a YAML mapping", experiment="- 1\n- 2\n"),
    Case(
        "backward not a boolean",
        "parameters.backward: 'perhaps' not accepted (BooleanParameter given string value of "
        "'perhaps'); allowed: true or false",
        experiment=_set("parameters.backward", "perhaps"),
    ),
    Case(
        "bias_points as text",
        "parameters.bias_points",
        experiment=_set("parameters.bias_points", "many"),
    ),
    # -- command lines ------------------------------------------------------------------
    Case(
        "-p unknown key",
        "-p bias_pionts: unknown parameter; did you mean 'bias_points'",
        argv=lambda tmp: ["-p", "bias_pionts=3"],
    ),
    Case("-p without =", "-p: 'bias_points'", argv=lambda tmp: ["-p", "bias_points"]),
    Case("-p non-integer", "-p bias_points", argv=lambda tmp: ["-p", "bias_points=100.5"]),
    Case("-p NaN", "-p bias_start", argv=lambda tmp: ["-p", "bias_start=nan"]),
    Case(
        "-p not a boolean",
        "-p backward: 'maybe' not accepted (BooleanParameter given string value of 'maybe'); "
        "allowed: true or false",
        argv=lambda tmp: ["-p", "backward=maybe"],
    ),
    Case("-p out of range", "-p bias_points", argv=lambda tmp: ["-p", "bias_points=1"]),
    Case(
        "-p twice",
        "-p tip_settle: given twice",
        argv=lambda tmp: ["-p", "tip_settle=1", "-p", "tip_settle=2"],
    ),
    Case("--out an existing file", "--out: ", argv=lambda tmp: ["--out", str(tmp / "afile")]),
    Case(
        "--resume a missing file",
        "--resume: no such file",
        replace_argv=lambda tmp, st, ex: [
            "run",
            "--resume",
            str(tmp / "nope.h5"),
            "--config",
            str(st),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case(
        "--resume a file that is not HDF5",
        "--resume: not an HDF5 file",
        replace_argv=lambda tmp, st, ex: [
            "run",
            "--resume",
            str(tmp / "afile"),
            "--config",
            str(st),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case(
        "--resume a file cut short",
        "--resume: cut short: 1024 of the ",
        replace_argv=lambda tmp, st, ex: [
            "run",
            "--resume",
            str(_cut_short(tmp)),
            "--config",
            str(st),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case(
        "--resume with an experiment",
        "--resume: continues the run file's own",
        replace_argv=lambda tmp, st, ex: [
            "run",
            str(ex),
            "--resume",
            str(tmp / "afile"),
            "--config",
            str(st),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case(
        "no experiment",
        "experiment: give an EXPERIMENT.yaml",
        replace_argv=lambda tmp, st, ex: ["run", "--config", str(st)],
    ),
    Case(
        "missing experiment file",
        "(file): cannot read",
        replace_argv=lambda tmp, st, ex: [
            "run",
            str(tmp / "none.yaml"),
            "--config",
            str(st),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case(
        "missing station file",
        "(file): cannot read",
        replace_argv=lambda tmp, st, ex: [
            "run",
            str(ex),
            "--config",
            str(tmp / "none.yaml"),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case(
        "station is a folder",
        "(file): is a folder",
        replace_argv=lambda tmp, st, ex: [
            "run",
            str(ex),
            "--config",
            str(tmp),
            "--out",
            str(tmp / "data"),
        ],
    ),
    Case("unknown option", "unrecognized arguments: --fast", argv=lambda tmp: ["--fast"]),
    Case(
        "option typo",
        "unrecognized arguments: --dry-rnu (see andreev --help); did you mean '--dry-run'?",
        argv=lambda tmp: ["--dry-rnu"],
    ),
    Case(
        "command typo",
        "invalid choice: 'rnu'",
        replace_argv=lambda tmp, st, ex: ["rnu", str(ex), "--config", str(st)],
    ),
    Case(
        "info of a bad station",
        "instruments.stm: missing",
        station=_pop("instruments.stm"),
        replace_argv=lambda tmp, st, ex: ["info", "--config", str(st)],
    ),
]


def _write(path: Path, base: dict, spec: object) -> None:
    if spec is None:
        path.write_text(yaml.safe_dump(base, sort_keys=False))
    elif isinstance(spec, bytes):
        path.write_bytes(spec)
    elif isinstance(spec, str):
        path.write_text(spec)
    else:
        spec(base)  # type: ignore[operator]
        path.write_text(yaml.safe_dump(base, sort_keys=False))


def _files(tmp: Path, case: Case) -> tuple[Path, Path]:
    station, experiment = tmp / "station.yaml", tmp / "experiment.yaml"
    if case.station is None:
        station.write_text(station_text())
    else:
        _write(station, station_data(), case.station)
    _write(experiment, yaml.safe_load(yaml.safe_dump(EXPERIMENT)), case.experiment)
    (tmp / "afile").write_text("not a run file\n")
    return station, experiment


def _argv(tmp: Path, case: Case) -> list[str]:
    station, experiment = _files(tmp, case)
    if case.replace_argv is not None:
        return case.replace_argv(tmp, station, experiment)
    return [
        "run",
        str(experiment),
        "--config",
        str(station),
        "--out",
        str(tmp / "data"),
        *case.argv(tmp),
    ]


def _assert_refused(tmp: Path, case: Case, code: int, out: str, err: str) -> None:
    text = out + err
    lines = [line for line in text.splitlines() if line.strip()]
    assert code == 2, f"{case.name}: exit {code}\n{text}"
    assert len(lines) == 1, f"{case.name}: expected one line, got:\n{text}"
    assert case.expect in lines[0], f"{case.name}: {case.expect!r} not in {lines[0]!r}"
    assert "Traceback" not in text
    assert not (tmp / "data").exists(), f"{case.name}: the output folder was created"
    written = [p for p in tmp.rglob("*.h5") if p.name != "cut.h5"]  # cut.h5: an input
    assert not written and not list(tmp.rglob("*.lock"))


def test_the_battery_has_at_least_40_inputs() -> None:
    assert len(CASES) >= 40
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case, capsys, monkeypatch) -> None:
    monkeypatch.setenv("ANDREEV_STATE_DIR", str(tmp_path / "state"))
    code = main(_argv(tmp_path, case))
    captured = capsys.readouterr()
    _assert_refused(tmp_path, case, code, captured.out, captured.err)


SUBPROCESS_CASES = [
    "binary garbage station",
    "type subprocess.Popen",
    "--out an existing file",
    "alias bomb experiment",
    "-p unknown key",
]


@pytest.mark.parametrize("name", SUBPROCESS_CASES)
def test_bad_input_through_python_m_andreev(tmp_path: Path, name: str) -> None:
    case = next(case for case in CASES if case.name == name)
    argv = _argv(tmp_path, case)
    env = {
        "PYTHONPATH": str(ROOT),
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "ANDREEV_STATE_DIR": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable, "-m", "andreev", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    _assert_refused(tmp_path, case, done.returncode, done.stdout, done.stderr)


def test_several_limit_problems_are_all_in_the_error_log(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setenv("ANDREEV_STATE_DIR", str(tmp_path / "state"))
    case = next(case for case in CASES if case.name == "several limits at once")
    assert main(_argv(tmp_path, case)) == 2
    (line,) = capsys.readouterr().err.splitlines()
    log = tmp_path / "state" / "andreev-errors.log"
    assert line.endswith(f"; all 3 problems in {log}")
    text = log.read_text(encoding="utf-8")
    for key, allowed in (
        ("bias_start", "±0.1 V"),
        ("bias_stop", "±0.1 V"),
        ("ladder_stop", "safety.max_setpoint_current = 1e-06 A"),
    ):
        assert f"experiment.yaml: parameters.{key}: " in text and allowed in text
