"""Least-squares fits of measured dI/dV spectra with the models of ``andreev.physics``.

Three models, each evaluated by the same code the simulator uses:

- ``fit_dynes``: thermally smeared Dynes DOS, parameters ``gap`` (eV), ``gamma`` (eV),
  ``g_normal`` (S) — for tunnelling spectra (low G_N).
- ``fit_btk``: Dynes-broadened BTK, parameters ``gap`` (eV), ``barrier`` (Z, 1),
  ``gamma`` (eV), ``g_normal`` (S) — for Andreev spectra of a conventional film.
- ``fit_film``: the preformed-pair film model, parameters ``gap`` (eV), ``gap_c`` (eV),
  ``gamma`` (eV), ``andreev_weight`` (1, a_A·w(G_N)), ``g_normal`` (S) — for point-contact
  spectra of the disordered films. The Andreev channel's barrier and broadening start at
  the values given (FilmModel defaults unless told) and are fitted, or held at them; the
  weight is fitted unless a value to hold is given.

Temperature (K, the per-sweep measured one) and lock-in modulation (V rms, the file's
``v_mod_rms``) are arguments: the caller reads them from the run file, they are never
guessed. Starting values are guessed from the data (gap from the coherence peaks, G_N
from the high-bias conductance) unless given. Fits are bounded
(``scipy.optimize.least_squares``, trust-region reflective); errors are one standard
deviation from the covariance (JᵀJ)⁻¹ · max(χ²_red, 1) (``andreev.analysis.uncertainty``:
inflated when the scatter exceeds the noise, never shrunk; a parameter with no effect at
the solution, such as Δc at zero Andreev weight, gets an infinite error). A fit that does
not converge returns ``success=False`` and a message; it never raises. The film fit
solves its two linear parameters (G_N and the Andreev weight) by linear least squares
inside a 3-parameter fit of Δ, Δc, Γ (variable projection, analytic Jacobian).

Modules: ``models`` (the model curves), ``guesses`` (starting values), ``engine`` (data
preparation, the generic least-squares path, ``FitResult``), ``channels`` and ``film``
(the film fit's channels and solver), ``api`` (the public fits).
"""

from __future__ import annotations

from andreev.analysis.fits.api import fit_btk, fit_dynes, fit_film
from andreev.analysis.fits.engine import FitResult, fit_model
from andreev.analysis.fits.guesses import (
    coherence_peak_position,
    guess_btk,
    guess_dynes,
    guess_film,
    steepest_edge_position,
)
from andreev.analysis.fits.models import MODELS, ModelFn, film_for_fit
from andreev.analysis.spectrum import high_bias_conductance, noise_sigma

__all__ = [
    "MODELS",
    "FitResult",
    "ModelFn",
    "coherence_peak_position",
    "film_for_fit",
    "fit_btk",
    "fit_dynes",
    "fit_film",
    "fit_model",
    "guess_btk",
    "guess_dynes",
    "guess_film",
    "high_bias_conductance",
    "noise_sigma",
    "steepest_edge_position",
]
