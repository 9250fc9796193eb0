"""The one uncertainty rule: (JᵀJ)⁻¹ · max(χ²_red, 1), dead parameters infinite."""

from __future__ import annotations

import math

import numpy as np
import pytest

from andreev.analysis.uncertainty import error_inflation, reduced_chi2, standard_errors

# straight line y = a + b·x with unit σ: (JᵀJ)⁻¹ is known in closed form
X = np.linspace(-1.0, 1.0, 11)
JAC = np.column_stack([np.ones_like(X), X])
BARE = np.sqrt(np.diag(np.linalg.inv(JAC.T @ JAC)))


def test_errors_are_not_shrunk_when_chi2_red_is_below_one():
    np.testing.assert_allclose(standard_errors(JAC, 0.25), BARE)
    np.testing.assert_allclose(standard_errors(JAC, 1.0), BARE)


def test_errors_are_inflated_by_sqrt_chi2_red_above_one():
    np.testing.assert_allclose(standard_errors(JAC, 4.0), 2.0 * BARE)


def test_scale_and_dead_parameters():
    jac = np.column_stack([JAC, np.zeros_like(X)])
    err = standard_errors(jac, 1.0, np.array([2.0, 3.0, 5.0]))
    np.testing.assert_allclose(err[:2], BARE * [2.0, 3.0])
    assert err[2] == math.inf


def test_singular_and_nan():
    twin = np.column_stack([X, X])
    assert np.all(standard_errors(twin, 1.0) == math.inf)
    assert np.all(standard_errors(JAC, math.nan) == math.inf)
    assert math.isnan(error_inflation(math.nan))


def test_reduced_chi2():
    assert reduced_chi2(np.ones(12), 2) == pytest.approx(1.2)
    assert reduced_chi2(np.ones(2), 5) == pytest.approx(2.0)  # dof floored at 1
