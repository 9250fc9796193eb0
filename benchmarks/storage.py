"""Storage throughput: time per durable write_sweep (flush + fsync) and load time.

Run: python benchmarks/storage.py [n_outer n_setpoint n_bias] (from the repository root)
Prints figures only; nothing is asserted.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from andreev.storage import RunWriter, load


def main(n_outer: int = 10, n_setpoint: int = 13, n_bias: int = 401) -> None:
    """Write a (n_outer, n_setpoint, 2, n_bias) run and report timings (s) and size (bytes)."""
    bias = np.linspace(-3e-3, 3e-3, n_bias)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.h5"
        t0 = time.perf_counter()
        w = RunWriter.create(
            path,
            outer_name="temperature",
            outer_values=np.linspace(0.05, 3.0, n_outer),
            outer_unit="K",
            setpoints=np.logspace(-9, -6, n_setpoint),
            bias=bias,
            directions=("forward", "backward"),
            setpoint_bias=10e-3,
            v_mod_rms=20e-6,
            config_yaml="bench: true\n",
            snapshot={},
        )
        t_create = time.perf_counter() - t0
        times = []
        with w:
            while (idx := w.first_unfinished()) is not None:
                a = rng.normal(size=n_bias)
                t0 = time.perf_counter()
                w.write_sweep(
                    *idx,
                    didv=a,
                    x=a,
                    y=a,
                    current=a,
                    temperature=0.1,
                    z=1e-10,
                    timestamp=time.time(),
                    g_normal=1e-6,
                )
                times.append(time.perf_counter() - t0)
            w.write_settling_trace(0, np.arange(5000.0), np.ones(5000), np.ones(5000))
        load(path)  # first call pays for importing xarray
        t0 = time.perf_counter()
        ds = load(path)
        t_load = time.perf_counter() - t0
        size = path.stat().st_size
    ms = 1e3 * np.asarray(times)
    print(f"run shape {dict(ds.sizes)}")
    print(f"create            {1e3 * t_create:8.2f} ms")
    print(f"write_sweep       median {np.median(ms):.2f} ms, max {ms.max():.2f} ms, n={ms.size}")
    print(f"load (warm)       {1e3 * t_load:8.2f} ms")
    print(f"file size         {size / 1e6:8.2f} MB (raw data {ds.nbytes / 1e6:.2f} MB)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:4]))
