"""The sweep in progress, point by point, for live readers of the run file.

:class:`LiveTap` watches the requests a sweep makes — ``stm.set_bias(v)``, then
``lockin.read_xy()`` and ``stm.read_current()`` make one point at bias ``v`` (or
``stm.read_current_then_set_bias(w)``: the current of ``v``, then the bias to ``w``) — through
thin proxies around the rig's STM and lock-in (:func:`tapped`), and mirrors the
points into the run file's ``/entry/live`` group (:meth:`andreev.storage.RunWriter.
write_live`: flushed, not fsynced, about once a second). Reads outside a sweep (the
regulation before it) carry no ``read_xy`` and are not points. Sweeps the controller
runs by itself (controller-side mode) have no per-point requests and show nothing live.
The tap never breaks a run: an error in it is logged once and switches it off.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from andreev.engine.rig import Rig

log = logging.getLogger(__name__)


class _Proxy:
    """Forwards everything to ``inner``; calls ``hooks[name](result, *args)`` after a
    hooked method returns, or ``hooks[name](value)`` when a hooked attribute is read."""

    def __init__(self, inner: Any, hooks: dict[str, Callable[..., None]]) -> None:
        object.__setattr__(self, "_inner", inner)
        object.__setattr__(self, "_hooks", hooks)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        hook = self._hooks.get(name)
        if hook is None:
            return value
        if not callable(value):
            hook(value)
            return value

        def call(*args: Any, **kwargs: Any) -> Any:
            result = value(*args, **kwargs)
            hook(result, *args)
            return result

        return call

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._inner, name, value)

    def __repr__(self) -> str:
        return f"live-tapped {self._inner!r}"


class LiveTap:
    """Collects the points of the sweep in progress and hands them to ``book``."""

    def __init__(self, book: Any, bias: np.ndarray, n_directions: int, lockin: Any) -> None:
        self.book, self.bias, self.lockin = book, np.asarray(bias, dtype=float), lockin
        self.n_dir = n_directions
        self.enabled = hasattr(book, "write_live")
        self.active = False
        self._arrays = {n: np.full((n_directions, self.bias.size), np.nan) for n in ("x", "y")}
        self._arrays["current"] = np.full((n_directions, self.bias.size), np.nan)
        self._where: tuple[int, int] = (0, 0)
        self._attempt = 0
        self._points = 0
        self._bias: float | None = None
        self._xy: tuple[float, float] | None = None
        self._current: float | None = None
        self._gain = float("nan")
        self._v_mod = float("nan")
        self._started = float("nan")

    # ---- the engine's side ------------------------------------------------------------
    def begin(self, i: int, j: int, attempt: int) -> None:
        """Sweep (i, j) is about to be taken (attempt 0 first)."""
        for arr in self._arrays.values():
            arr[...] = np.nan
        self._where, self._attempt, self._points = (i, j), attempt, 0
        self._started = time.time()
        self._bias = self._xy = self._current = None
        self.active = self.enabled

    def end(self) -> None:
        """The sweep is over (stored, retaken or given up)."""
        if self.active and self._points:
            self._guarded(lambda: self._write(force=True))
        self.active = False

    # ---- the hooks ------------------------------------------------------------------
    def on_set_bias(self, _result: Any, bias: float, *args: Any) -> None:
        self._bias, self._xy, self._current = float(bias), None, None

    def on_read_xy(self, result: Any, *args: Any) -> None:
        x, y = result
        self._xy = (float(x), float(y))
        self._complete()

    def on_gain(self, result: Any, *args: Any) -> None:
        self._gain = float(result)

    def on_v_mod(self, value: Any) -> None:
        self._v_mod = float(value)

    def on_read_current(self, result: Any, *args: Any) -> None:
        self._current = float(result)
        self._complete()

    def on_current_then_bias(self, result: Any, bias: float, *args: Any) -> None:
        """``stm.read_current_then_set_bias(v)``: the current completes the point at the
        previous bias, then the bias moves to ``v``."""
        self.on_read_current(result)
        self.on_set_bias(None, bias)

    def _complete(self) -> None:
        """A point is stored once its bias, X/Y and current are all known, in whatever
        order the sweep reads them."""
        if not self.active or None in (self._xy, self._bias, self._current):
            return
        current = float(self._current)  # type: ignore[arg-type]
        self._guarded(lambda: self._point(current))

    # ---- internals --------------------------------------------------------------------
    def _guarded(self, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:
            log.warning("live view of the sweep switched off: %s", exc)
            self.enabled = self.active = False

    def _point(self, current: float) -> None:
        assert self._xy is not None and self._bias is not None
        k = min(self._points // self.bias.size, self.n_dir - 1)
        n = int(np.argmin(np.abs(self.bias - self._bias)))
        self._arrays["x"][k, n], self._arrays["y"][k, n] = self._xy
        self._arrays["current"][k, n] = current
        self._points += 1
        self._xy = self._current = None
        finished_direction = self._points % self.bias.size == 0
        self._write(force=finished_direction, k=k)

    def _write(self, *, force: bool, k: int | None = None) -> None:
        if k is None:
            k = min(max(self._points - 1, 0) // self.bias.size, self.n_dir - 1)
        values = {name: arr[k] for name, arr in self._arrays.items()}
        if np.isfinite(self._gain) and np.isfinite(self._v_mod):
            didv = self.lockin.didv_from_x(values["x"], self._gain, modulation_rms=self._v_mod)
            values["dIdV"] = np.asarray(didv, dtype=float)
        i, j = self._where
        self.book.write_live(
            (i, j, k), values, self._points, self._attempt, started=self._started, force=force
        )


def tapped(rig: Rig, tap: LiveTap) -> Rig:
    """``rig`` with its STM and lock-in seen through ``tap``'s proxies."""
    stm = _Proxy(
        rig.stm,
        {
            "set_bias": tap.on_set_bias,
            "read_current": tap.on_read_current,
            "read_current_then_set_bias": tap.on_current_then_bias,
            "get_preamp_gain": tap.on_gain,
        },
    )
    lockin = _Proxy(rig.lockin, {"read_xy": tap.on_read_xy, "modulation_rms": tap.on_v_mod})
    return dataclasses.replace(rig, stm=stm, lockin=lockin)
