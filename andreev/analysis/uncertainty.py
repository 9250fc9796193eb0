"""The one rule for parameter uncertainties of every least-squares fit in andreev.analysis.

``fun`` is the weighted residual (model − data)/σ of a fit and ``J`` its Jacobian in the
(possibly scaled) fitted parameters at the solution. The one-sigma standard errors are the
square roots of the diagonal of the covariance

    C = (JᵀJ)⁻¹ · max(χ²_red, 1),        χ²_red = Σ fun² / (n_points − n_params),

times the parameter scale. (JᵀJ)⁻¹ alone is the covariance when the σ are right. When
χ²_red > 1 the scatter exceeds the σ (noise underestimated, or the model misses a
feature), so the errors are inflated by √χ²_red (the Birge ratio); when χ²_red < 1 they
are left as they are: a lucky, quiet spectrum never shrinks a quoted uncertainty.

A parameter with no effect at the solution (its Jacobian column is zero, e.g. Δc when the
Andreev weight sits at 0) gets an infinite error and the others their errors from the
covariance of the rest; a singular JᵀJ gives infinite errors. Used by
``andreev.analysis.fits`` and ``andreev.analysis.closing.fit_gap_closing``.
"""

from __future__ import annotations

import numpy as np


def reduced_chi2(fun: np.ndarray, n_params: int) -> float:
    """χ²_red = Σ fun² / max(n − n_params, 1) of a weighted residual ``fun`` (1)."""
    fun = np.asarray(fun, dtype=float)
    return float(np.sum(fun**2)) / max(fun.size - n_params, 1)


def error_inflation(chi2_red: float) -> float:
    """The factor on (JᵀJ)⁻¹: χ²_red when it exceeds 1, else 1 (NaN stays NaN)."""
    return float(chi2_red) if not chi2_red <= 1.0 else 1.0


def covariance(jac: np.ndarray, chi2_red: float, scale: np.ndarray | float = 1.0) -> np.ndarray:
    """The parameters' covariance (units of p × p) by the rule of the module docstring.

    ``jac`` is the Jacobian of the weighted residual in the parameters p/``scale``. Rows
    and columns of parameters with no effect are inf on the diagonal and 0 elsewhere; a
    singular JᵀJ gives inf on the whole diagonal.
    """
    jac = np.asarray(jac, dtype=float)
    n_par = jac.shape[1]
    scale_arr = np.broadcast_to(np.asarray(scale, dtype=float), (n_par,))
    live = np.any(jac != 0, axis=0)
    cov = np.zeros((n_par, n_par))
    np.fill_diagonal(cov, np.inf)
    try:
        sub = np.linalg.inv(jac[:, live].T @ jac[:, live]) * error_inflation(chi2_red)
    except np.linalg.LinAlgError:
        return cov
    s = scale_arr[live]
    cov[np.ix_(live, live)] = sub * np.outer(s, s)
    return cov


def standard_errors(
    jac: np.ndarray, chi2_red: float, scale: np.ndarray | float = 1.0
) -> np.ndarray:
    """One-sigma errors of the fitted parameters (see the module docstring for the rule).

    ``jac`` is the Jacobian of the weighted residual in the parameters p/``scale``;
    errors are returned in the units of p (inf where undetermined).
    """
    return errors_of(covariance(jac, chi2_red, scale))


def errors_of(cov: np.ndarray) -> np.ndarray:
    """One-sigma errors (units of p) from a covariance: √diag, inf where not finite."""
    err = np.sqrt(np.abs(np.diag(cov)))
    return np.where(np.isfinite(err), err, np.inf)
