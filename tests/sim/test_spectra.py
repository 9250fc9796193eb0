"""Spectrum tables of the simulator: the numbers of FilmModel, in microseconds."""

from __future__ import annotations

import numpy as np
import pytest

from andreev.physics import G0, FilmModel
from andreev.sim.samples import sample_film
from andreev.sim.spectra import FilmSpectra

BIAS = np.linspace(-3e-3, 3e-3, 301)


@pytest.mark.parametrize("film", [FilmModel(), sample_film("InO-4"), sample_film("InO-3")])
@pytest.mark.parametrize(
    ("gn", "temperature", "v_mod"), [(0.1 * G0, 0.05, 1e-5), (2 * G0, 0.8, 0.0)]
)
def test_tables_give_the_film_models_numbers(film, gn, temperature, v_mod):
    spectra = FilmSpectra(film, 0.1)
    expected_g = film.conductance(BIAS, gn, temperature, v_mod)
    expected_i = film.current(BIAS, gn, temperature)
    np.testing.assert_allclose(
        spectra.conductance_array(BIAS, gn, temperature, v_mod), expected_g, atol=2e-3 * gn
    )
    np.testing.assert_allclose(
        spectra.current_array(BIAS, gn, temperature), expected_i, atol=1e-4 * gn * 3e-3
    )
    for v in (-2.7e-3, -0.31e-3, 0.0, 0.52e-3, 1.9e-3):
        assert spectra.conductance(v, gn, temperature, v_mod) == pytest.approx(
            float(film.conductance(v, gn, temperature, v_mod)), rel=3e-3, abs=1e-4 * gn
        )
        assert spectra.current(v, gn, temperature) == pytest.approx(
            float(film.current(v, gn, temperature)), rel=3e-3, abs=1e-6 * gn * 1e-3
        )


def test_the_table_covers_max_bias_and_continues_beyond():
    film = FilmModel()
    spectra = FilmSpectra(film, 0.1)
    gn, temperature = 0.05 * G0, 0.05
    for v in (10e-3, -37e-3, 0.0999, -0.1):
        assert spectra.conductance(v, gn, temperature, 0.0) == pytest.approx(
            float(film.conductance(v, gn, temperature)), rel=1e-4
        )
        assert spectra.current(v, gn, temperature) == pytest.approx(
            float(film.current(v, gn, temperature)), rel=1e-4
        )
    # beyond the table: the metal's Ohm's law, continuous at the edge
    assert spectra.current(0.3, gn, temperature) == pytest.approx(
        spectra.current(0.1, gn, temperature) + 0.2 * spectra.conductance(0.1, gn, temperature, 0),
        rel=1e-9,
    )
    assert spectra.current(0.3, gn, temperature) == pytest.approx(0.3 * gn, rel=1e-3)


def test_the_temperature_drifting_does_not_rebuild_tables():
    spectra = FilmSpectra(FilmModel(), 0.1)
    for k in range(200):  # 49.60 … 49.80 mK: within one 1 % node pair
        spectra.conductance(0.4e-3, 0.1 * G0, 0.0496 + k * 1e-6, 1e-5)
        spectra.current(0.4e-3, 0.1 * G0, 0.0496 + k * 1e-6)
    assert len(spectra._tables) <= 4  # two T nodes, with and without the modulation


@pytest.mark.parametrize("film", [FilmModel(), sample_film("InO-4")])
def test_remembered_answers_are_the_fresh_ones_exactly(film):
    # a temperature moving between two nodes, requests in the order the world asks:
    # the remembered node values and the joint lookup give the numbers a fresh set of
    # tables gives, to the last bit
    warm = FilmSpectra(film, 0.1)
    gn, v_mod = 0.3 * G0, 1e-5
    for t in [0.5e-3] + [0.05 * (1 + 0.008 * k) for k in range(20)]:  # 0.5 mK: the T = 0 table
        fresh = FilmSpectra(film, 0.1)  # remembers nothing yet at these biases
        for bias in (0.7e-3, -2.1e-3, 0.05, -0.3):  # -0.3 V: beyond the table
            both = warm.current_and_conductance(bias, gn, t, v_mod)
            assert both == (fresh.current(bias, gn, t), fresh.conductance(bias, gn, t, v_mod))
            assert warm.current(bias, gn, t) == both[0]
            assert warm.conductance(bias, gn, t, v_mod) == both[1]
