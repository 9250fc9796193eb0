"""Tc from R(T): the criteria on synthetic sweeps of the sim's film model, the stored
results and CSV of a transport file, Fig. 4 and Table S1 with an analysed spectroscopy
run (the session's synthetic temperature series, andreev analyze'd)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from andreev.analysis.fig_transport import (
    fig4,
    format_table_s1,
    gap_scales,
    table_s1,
    write_table_s1_csv,
)
from andreev.analysis.transport import analyze_transport, tc_criteria, transport_summary
from andreev.physics import K_B_EV
from andreev.sim.film_resistance import FILM_PRESETS, FilmResistance, FilmResistanceParams
from andreev.storage import read_analysis
from andreev.storage.transport import TransportWriter


def film(name: str) -> FilmResistance:
    return FilmResistance(FilmResistanceParams(**FILM_PRESETS[name]), np.random.default_rng(4))


def sweep(f: FilmResistance, t: np.ndarray, shift: float = 0.0, current: float = 1e-9):
    """Readings at bath ``t`` (K) of a film seen ``shift`` K away from the thermometer."""
    return np.array([f.reading(x - shift, current, 5.0) for x in t])


@pytest.mark.parametrize("name", sorted(FILM_PRESETS))
def test_criteria_on_every_preset(name: str) -> None:
    f = film(name)
    tc = f.params.tc
    t = np.linspace(tc - 0.25, tc + 0.25, 300)
    res = tc_criteria(t, sweep(f, t), "up")
    assert res.midpoint == pytest.approx(tc, abs=3e-3)
    assert res.width == pytest.approx(f.params.width, abs=5e-3)
    assert res.onset - res.midpoint == pytest.approx(0.5 * f.params.width, abs=4e-3)
    assert res.zero < res.ten_percent < res.midpoint < res.onset
    assert res.zero == pytest.approx(tc - f.params.half_span, abs=0.01)
    assert res.r_normal == pytest.approx(f.normal(tc), rel=0.01)
    assert 0 < res.midpoint_error < 3e-3
    if f.params.upturn > 0:
        assert res.normal_slope < 0  # insulating: R rises as T falls
    else:
        assert abs(res.normal_slope) < 0.03 * res.r_normal  # metal: flat within the noise


def test_criteria_say_when_there_is_no_transition() -> None:
    t = np.linspace(2.0, 3.0, 50)
    assert "no transition" in tc_criteria(t, 5e3 + 0 * t).message
    assert "fewer than 6" in tc_criteria(t[:3], t[:3]).message


def write_transport_file(path: Path, lag: float = 0.004, current: float = 1e-9) -> Path:
    """A transport run of InO-2 read up and down with the film ``lag``/2 behind."""
    f = film("InO-2")
    up = np.linspace(1.25, 1.65, 200)
    with_ = TransportWriter.create(
        path, segments=[(1.25, 1.65, 1), (1.65, 1.25, -1)], config_yaml="parameters: {}\n",
        snapshot={}, extra_attrs={"sample": "InO-2"},
    )  # fmt: skip
    for i, (t, shift) in enumerate(((up, lag / 2), (up[::-1], -lag / 2))):
        r = sweep(f, t, shift, current)
        n = t.size
        with_.append(
            {"resistance": r, "temperature": t, "time": np.arange(n) * 6.0 + i * 1200,
             "timestamp": np.zeros(n), "setpoint": t, "excitation": np.full(n, current),
             "power": current**2 * r, "switch_cost": np.zeros(n), "segment": np.full(n, i),
             "status": np.zeros(n)}
        )  # fmt: skip
        with_.set_segment_status(i, "done")
    with_.close("completed")
    return path


def test_analyze_transport_stores_results_and_csv(tmp_path: Path) -> None:
    path = write_transport_file(tmp_path / "rt.h5")
    an = analyze_transport(path)
    assert an.tc == pytest.approx(1.45, abs=3e-3)
    assert an.lag == pytest.approx(0.004, abs=2e-3)
    assert an.tc_error >= abs(an.lag) / 2
    assert an.warnings == []
    stored = read_analysis(path)
    assert stored.attrs["kind"] == "transport"
    assert any("midpoint" in c for c in stored.attrs["criteria"])
    up = stored.groups["transport_up"].datasets
    assert up["midpoint"][1] == "K" and up["r_normal"][1] == "Ohm"
    rows = path.with_name("rt.analysis.csv").read_text().splitlines()
    assert rows[0].split(",")[:5] == ["direction", "n_points", "r_normal_Ohm", "onset_K",
                                      "midpoint_K"]  # fmt: skip
    assert [r.split(",")[0] for r in rows[1:]] == ["up", "down", "combined"]
    text = transport_summary(an)
    assert "Tc (50 % R_N) = 1.45" in text and "lag up − down" in text


def test_self_heating_is_warned_of(tmp_path: Path) -> None:
    an = analyze_transport(write_transport_file(tmp_path / "hot.h5", current=1e-6))
    assert an.max_power > 1e-10
    assert any("self-heats" in w for w in an.warnings)


def test_fig4_and_table_s1(tmp_path: Path, analyzed: dict) -> None:
    spectra = analyzed["path"]
    transport = write_transport_file(tmp_path / "rt.h5")
    scales = gap_scales(spectra)
    assert scales.gap_mean == pytest.approx(0.55e-3, rel=0.02)
    assert scales.gap_c == pytest.approx(0.10e-3, rel=0.05)
    png = fig4(transport, [spectra], tmp_path / "fig4.png")
    assert png.stat().st_size > 20_000
    import matplotlib.image

    image = matplotlib.image.imread(png)
    assert image.shape[1] > 800 and image[..., :3].std() > 0.05  # not blank
    rows = table_s1([transport, spectra], sample="InO-2")
    assert len(rows) == 1
    row = rows[0]
    assert row.tc_transport == pytest.approx(1.45, abs=0.01)
    # the transport Tc and the Δc closing temperature agree within 0.1 K (the synthetic
    # spectroscopy run is the sim's InO-2 film, Tc 1.45 K)
    assert math.isfinite(row.tc_closing) and abs(row.tc_closing - row.tc_transport) < 0.1
    assert row.ratio == pytest.approx(row.gap_c / (K_B_EV * row.tc_transport))
    text = format_table_s1(rows)
    assert "InO-2" in text and "Tc transport" in text
    csv = write_table_s1_csv(rows, tmp_path / "s1.csv").read_text().splitlines()
    assert csv[0].startswith("sample,tc_transport_K,tc_transport_error_K,tc_closing_K")
    with pytest.raises(ValueError, match="andreev analyze"):
        gap_scales(transport)


def test_the_command_line_analyses_plots_and_tabulates_transport(
    tmp_path: Path, analyzed: dict, capsys: pytest.CaptureFixture[str]
) -> None:
    from andreev.cli import main as cli_main
    from andreev.storage import read_analysis

    spectra = analyzed["path"]
    transport = write_transport_file(tmp_path / "rt.h5")
    assert cli_main(["analyze", str(transport)]) == 0
    out = capsys.readouterr().out
    assert "Tc" in out and "/entry/analysis" in out
    stored = read_analysis(transport)
    assert stored is not None and stored.datasets  # the R(T) criteria, through storage
    assert (tmp_path / "rt.analysis.csv").is_file()

    assert cli_main(["plot", str(transport), str(spectra), "--out", str(tmp_path / "f")]) == 0
    png = Path(capsys.readouterr().out.strip().splitlines()[-1])
    assert png.name == "rt_fig4.png" and png.stat().st_size > 20_000

    assert (
        cli_main(["analyze", "--summary", str(transport), str(spectra), "--sample", "InO-2"]) == 0
    )
    out = capsys.readouterr().out
    assert "InO-2" in out and "Tc transport" in out
    assert (tmp_path / "table_s1.csv").is_file()

    assert cli_main(["analyze", str(tmp_path / "missing.h5")]) == 2
    assert "no such file" in capsys.readouterr().err
