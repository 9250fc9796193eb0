"""Experiment files: strict validation and the dry-run's limit checks (nothing connected)."""

from __future__ import annotations

from pathlib import Path

import pytest

from andreev.cli import main as cli_main
from andreev.config import ConfigError
from andreev.instruments.station import load_station_config
from andreev.procedures.experiment import PROCEDURES, load_experiment
from andreev.procedures.runner import LimitError, check_limits, describe_plan, run_experiment

ROOT = Path(__file__).resolve().parents[2]
SIM_STATION = ROOT / "config" / "sim.yaml"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("name", ["demo", "spectrum", "ladder", "overnight", "grid"])
def test_shipped_experiments_are_valid_and_within_sim_limits(name: str) -> None:
    experiment = load_experiment(ROOT / "config" / "experiments" / f"{name}.yaml")
    check_limits(experiment, load_station_config(SIM_STATION))
    assert experiment.procedure.estimated_duration() > 0


def test_demo_grid() -> None:
    proc = load_experiment(ROOT / "config" / "experiments" / "demo.yaml").procedure
    assert proc.shape == (6, 7, 1)
    assert proc.setpoints()[0] == pytest.approx(1e-9)
    assert proc.setpoints()[-1] == pytest.approx(1e-6)
    assert proc.bias_values().size == 201


def test_unknown_key_names_file_and_key(tmp_path: Path) -> None:
    path = write(tmp_path, "procedure: BiasSpectrum\nparameters:\n  bias_stat: 1.0e-3\n")
    with pytest.raises(ConfigError) as info:
        load_experiment(path)
    message = str(info.value)
    assert str(path) in message and "parameters.bias_stat" in message and "bias_start" in message


def test_out_of_range_value_names_allowed_range(tmp_path: Path) -> None:
    path = write(tmp_path, "procedure: SetpointLadder\nparameters:\n  ladder_steps: 0\n")
    with pytest.raises(ConfigError, match=r"parameters\.ladder_steps.*1 … 200"):
        load_experiment(path)


def test_wrong_type_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "procedure: BiasSpectrum\nparameters:\n  bias_points: yes\n")
    with pytest.raises(ConfigError, match="bias_points"):
        load_experiment(path)


def test_unknown_procedure(tmp_path: Path) -> None:
    path = write(tmp_path, "procedure: Magic\n")
    with pytest.raises(ConfigError, match=r"procedure.*TemperatureSeries"):
        load_experiment(path)


def test_every_procedure_has_defaults_that_build() -> None:
    for cls in PROCEDURES.values():
        proc = cls()
        assert proc.parameters_are_set(), cls.__name__


def test_limits_refuse_with_key_and_limit(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "procedure: TemperatureSeries\nparameters:\n"
        "  temperatures: [0.05, 5.0]\n  ladder_stop: 2.0e-6\n",
    )
    experiment = load_experiment(path)
    with pytest.raises(LimitError) as info:
        check_limits(experiment, load_station_config(SIM_STATION))
    message = str(info.value)  # one line: the first in full, the other's key
    assert "\n" not in message and "(and 1 more: parameters." in message
    assert "ladder_stop" in message and "temperatures[1]" in message
    details = "\n".join(info.value.details)  # every problem in full
    assert "ladder_stop: setpoint current" in details and "max_setpoint_current" in details
    assert "temperatures[1]: " in details and "max_temperature" in details


def test_dry_run_prints_plan_and_moves_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    demo = ROOT / "config" / "experiments" / "demo.yaml"
    result = run_experiment(demo, SIM_STATION, out_dir=tmp_path, dry_run=True)
    assert result.exit_status == "dry-run" and result.path is None
    code = cli_main(
        ["run", str(demo), "--config", str(SIM_STATION), "--out", str(tmp_path), "--dry-run"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "estimated duration" in text and "sweeps: 42" in text and "nothing was moved" in text
    assert not any(tmp_path.iterdir())


def test_plan_lines_name_the_axes() -> None:
    experiment = load_experiment(ROOT / "config" / "experiments" / "overnight.yaml")
    text = "\n".join(describe_plan(experiment, load_station_config(SIM_STATION)))
    assert "temperature: 17 step(s)" in text
    grid = load_experiment(ROOT / "config" / "experiments" / "grid.yaml")
    text = "\n".join(describe_plan(grid, load_station_config(SIM_STATION)))
    assert "grid: 16 × 16 points spanning 150 × 150 nm around (0, 0) nm" in text
    assert "sweeps: 512 (256 step(s) × 2 setpoint(s)" in text


def test_a_descending_ladder_is_planned_in_its_own_order(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "procedure: SetpointLadder\nparameters:\n  ladder_start: 1.0e-6\n"
        "  ladder_stop: 1.0e-9\n  ladder_steps: 4\n  backward: true\n",
    )
    lines = describe_plan(load_experiment(path), load_station_config(SIM_STATION))
    text = "\n".join(lines)
    assert "setpoints: 4 from 1e-06 A to 1e-09 A" in text
    assert "  outer   none (a single step)" in lines
    assert "sweeps: 4 (1 step(s) × 4 setpoint(s), each forward + backward)" in text


def test_modulation_is_checked_before_anything_moves(tmp_path: Path) -> None:
    # 10 mV rms at the junction needs SLVL = 10 V with the sim's 1e-3 divider: the SR830
    # gives at most 5 V, so the dry run refuses it and names the key
    path = write(tmp_path, "procedure: BiasSpectrum\nparameters:\n  modulation_rms: 0.01\n")
    with pytest.raises(LimitError, match=r"modulation_rms.*0\.004 … 5 V"):
        check_limits(load_experiment(path), load_station_config(SIM_STATION))


def test_progress_bar_shows_run_and_current_sweep() -> None:
    import io

    from andreev.cli.run import Progress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal, log = Terminal(), io.StringIO()
    for stream in (terminal, log):
        progress = Progress(stream)
        progress(1, 4, 10.0)
        progress.sweep_progress(50, 200)
        progress(2, 4, 10.0)
    text = terminal.getvalue()
    assert "\r[" in text and "1/4 sweeps (25 %)" in text and "this sweep  25 %" in text
    assert "2/4 sweeps (50 %), ETA" in text
    lines = log.getvalue().splitlines()  # not a terminal: one plain line per sweep
    assert len(lines) == 2 and "this sweep" not in log.getvalue() and "\r" not in log.getvalue()


def test_the_plan_counts_the_cost_of_every_point() -> None:
    from andreev.procedures.base import POINT_WALL_COST, RUN_WALL_COST, SWEEP_WALL_COST

    experiment = load_experiment(ROOT / "config" / "experiments" / "demo.yaml")
    proc = experiment.procedure
    assert proc.points() == 6 * 7 * 201
    talk = 8442 * POINT_WALL_COST["point"] + 42 * SWEEP_WALL_COST + RUN_WALL_COST
    assert proc.talk_duration() == pytest.approx(talk)
    world = proc.estimated_duration()
    assert proc.estimated_wall_duration(1000.0) == pytest.approx(world / 1000.0 + talk)
    text = "\n".join(describe_plan(experiment, load_station_config(SIM_STATION)))
    assert "8442 points" in text and "at speedup 1000" in text
    proc.sweep_mode = "controller"
    assert proc.talk_duration() < talk / 5  # the controller sweeps at the wire's speed
