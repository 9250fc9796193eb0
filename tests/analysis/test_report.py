"""The analysis of a run: which sweeps get which fit, and unreadable files."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from andreev.analysis import report
from andreev.errors import RunFileError
from andreev.physics import FilmModel


@pytest.fixture(scope="module")
def analysis(synthetic_run: Path) -> report.RunAnalysis:
    """The synthetic run analysed with film fits at the top setpoint only."""
    return report.analyze_file(synthetic_run, film="highest")


def test_sweeps_get_the_right_fits(analysis: report.RunAnalysis):
    n_o, n_s, n_d = analysis.shape
    assert analysis.tunnelling_setpoints == [0]
    assert analysis.contact_setpoints() == [1, 2, 3] and analysis.top_setpoint() == 3
    assert set(analysis.text["kind"][:, 0, :].ravel()) == {"tunnelling"}
    assert set(analysis.text["kind"][:, 1:, :].ravel()) == {"contact"}
    for (_, j, _), fits in analysis.fits.items():
        contact = {"peaks", "btk", "film"} if j == 3 else {"peaks", "btk"}
        expected = {"dynes"} if j == 0 else contact
        assert set(fits) == expected
    assert len(analysis.fits) == n_o * n_s * n_d
    np.testing.assert_allclose(analysis.values["gap"][:, 0, :], FilmModel().gap, rtol=0.02)
    assert np.all(np.isnan(analysis.values["film_gap"][:, 1:3, :]))
    # the preformed-pair film is told from BTK at low T (film model, a collective gap) and
    # above Tc there is none (BTK)
    models = analysis.text["model"][:, 3, :]
    assert set(models[0]) == {"film"} and set(models[-1]) == {"btk"}
    assert np.all(analysis.values["model_margin"][:, 3, :] > 0)
    # the measured G_N within 2 % of the true one, the nominal kept as a label
    gn = analysis.values["g_normal_measured"][:, 3, :]
    np.testing.assert_allclose(gn, 5e-4, rtol=0.02)
    np.testing.assert_array_equal(analysis.values["g_normal_nominal"], analysis.g_normal)
    assert set(analysis.text["noise_source"][:, 0, :].ravel()) == {"forward/backward"}
    # χ²_red of the right model on white noise near 1
    chi = analysis.values["film_chi2_red"][:, 3, :]
    assert 0.7 < np.nanmedian(chi) < 1.5


def test_closing_fits_of_a_temperature_series(analysis: report.RunAnalysis):
    assert set(analysis.closing) == {"peaks", "film"}
    film = analysis.closing["film"]
    assert film.success and abs(film.tc - FilmModel().tc) < 0.1


def test_film_argument_is_checked(synthetic_run: Path):
    with pytest.raises(ValueError, match="film"):
        report.analyze_file(synthetic_run, film="some")


def test_missing_and_unreadable_files_raise_run_file_error(tmp_path: Path):
    with pytest.raises(RunFileError, match="no such file"):
        report.analyze_file(tmp_path / "nope.h5")
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not an hdf5 file")
    with pytest.raises(RunFileError, match="cannot read"):
        report.analyze_file(junk)
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = 1
    with pytest.raises(RunFileError, match="cannot read"):
        report.analyze_file(other)


def test_a_ladder_without_tunnelling_setpoint_gets_no_dynes_fit(tmp_path: Path):
    """A ladder starting at 100 nA (measured G_N 0.65 G0): its lowest setpoint is a contact,
    so no sweep is fitted with the tunnelling model and the summary says so."""
    from andreev.analysis.results import summary
    from tests.analysis.conftest import write_synthetic_run

    path = write_synthetic_run(
        tmp_path / "contact.h5", setpoints=(1e-7, 1e-6), temperatures=(0.05,)
    )
    an = report.analyze_file(path, film="highest")
    assert an.tunnelling_setpoints == [] and an.contact_setpoints() == [0, 1]
    assert set(an.text["kind"].ravel()) == {"contact"}
    assert np.all(np.isnan(an.values["gap"])) and not any("dynes" in f for f in an.fits.values())
    assert np.all(np.isfinite(an.values["btk_gap"]))  # Δ from the contact fits only
    assert report.NO_TUNNELLING in summary(an)
    # the measured high-bias conductance decides, not the order: a tunnelling-like higher
    # setpoint would count, a contact-like lowest one does not
    g_high = np.full((1, 3, 2), 0.5 * report.TUNNEL_MAX_G)
    g_high[:, 0] = 50 * report.TUNNEL_MAX_G
    assert report._tunnelling_setpoints(np.array([1e-7, 2e-7, 3e-7]), g_high) == [1, 2]
