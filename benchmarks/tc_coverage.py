"""Coverage of the Δc-closing Tc on the realistic simulated fridge (docs/physics.md §9.5).

Two steps, so that analyses can be compared on the same data:

  python benchmarks/tc_coverage.py acquire DIR [--samples InO-2 InO-3] [--seeds 1 2 3]
      takes a short temperature series per (sample, seed, temperature list) on the
      realistic preset (config/sim-realistic.yaml, speedup 1000, over loopback TCP: the
      series of tests/analysis/test_sim_runs.py with other temperatures) and
      writes DIR/NAME.h5 with DIR/NAME.json: the simulator's hidden truth (the film's Tc
      on the thermometer's scale, Δc0), read from the World only to check the analysis.
  python benchmarks/tc_coverage.py analyze DIR [--csv OUT]
      analyses every DIR/*.h5 in memory (the run files are not changed) and prints per
      series: Tc, truth, the interval, the pull (|Tc − truth| / the interval's side
      towards the truth) and the film fits' Δc pulls per temperature step; then the
      summary: rms and largest pull, how many beyond 0.1 K and beyond 3σ.

Run "before/after" by analysing the same DIR with two checkouts (PYTHONPATH). Prints
figures only, no asserts.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
#: temperature lists (K) per sample: 50 mK and 0.3 K, then warm steps to 0.75–0.86 Tc
LISTS = {
    "InO-2": {
        "a": [0.05, 0.3, 1.0, 1.1, 1.2],
        "b": [0.05, 0.3, 0.8, 1.0, 1.15],
        "c": [0.05, 0.3, 0.9, 1.1, 1.25],
    },
    "InO-3": {
        "a": [0.05, 0.3, 1.2, 1.4, 1.5],
        "b": [0.05, 0.3, 1.0, 1.25, 1.45],
        "c": [0.05, 0.3, 1.3, 1.5, 1.6],
    },
}


def acquire_one(sample: str, seed: int, tlist: str, out: Path) -> None:
    """One temperature series on the realistic sim: OUT/NAME.h5 and its truth NAME.json."""
    sys.path.insert(0, str(ROOT))
    from tests.analysis.test_sim_runs import SERIES, realistic_world, run_on_sim

    name = f"{sample}-s{seed}-{tlist}"
    if (out / f"{name}.json").exists():
        return
    world = realistic_world(sample, seed)
    folder = out / f"{name}.d"
    folder.mkdir(parents=True, exist_ok=True)
    parameters = {**SERIES["parameters"], "temperatures": LISTS[sample][tlist]}
    experiment = {**SERIES, "name": name, "parameters": parameters}
    t0 = time.perf_counter()
    run_on_sim(world, experiment, folder).rename(out / f"{name}.h5")
    film = world.film_at(world.junction.x, world.junction.y, parameters["ladder_stop"])
    truth = {
        "tc": film.tc * world.thermal.reading_factor,
        "tc_film": film.tc,
        "gap_c0": film.gap_c0,
        "reading_factor": world.thermal.reading_factor,
        "temperatures": LISTS[sample][tlist],
    }
    (out / f"{name}.json").write_text(json.dumps(truth))
    print(f"{name}: {time.perf_counter() - t0:.0f} s", flush=True)


def _side(c, truth: float) -> float:
    return c.tc_error_low if c.tc > truth else c.tc_error_high


def _sweeps(an, truth: dict) -> list[tuple[float, ...]]:
    """(step, T/Tc, Δc, error, truth) (eV) of the film fits with a collective gap at the top
    setpoint, per sweep."""
    from andreev import physics

    j = an.top_setpoint()
    out = []
    for (i, k), t in np.ndenumerate(an.temperature[:, j]):
        gc, err = an.values["film_gap_c"][i, j, k], an.values["film_gap_c_error"][i, j, k]
        if an.text["model"][i, j, k] != "film" or not (np.isfinite(gc) and err > 0):
            continue
        tt = t / truth["reading_factor"]
        true = physics.bcs_gap(float(tt), truth["gap_c0"], truth["tc_film"])
        out.append((i, float(tt / truth["tc_film"]), float(gc), float(err), float(true)))
    return out


def _gap_c_pulls(an, truth: dict) -> list[tuple[float, float]]:
    """(mean recorded T, mean pull of the film fits' Δc) per step at the top setpoint."""
    from andreev import physics

    j = an.top_setpoint()
    out = []
    for i in range(an.shape[0]):
        t = an.temperature[i, j]
        gc = an.values["film_gap_c"][i, j]
        err = an.values["film_gap_c_error"][i, j]
        chosen = np.array([m == "film" for m in an.text["model"][i, j]])
        ok = np.isfinite(gc) & np.isfinite(err) & (err > 0) & chosen
        if not np.any(ok):
            continue
        tt = t[ok] / truth["reading_factor"]
        true = np.array([physics.bcs_gap(float(x), truth["gap_c0"], truth["tc_film"]) for x in tt])
        out.append((float(np.mean(t[ok])), float(np.mean((gc[ok] - true) / err[ok]))))
    return out


def analyze_dir(folder: Path, csv: Path | None, dump: Path | None = None) -> None:
    """Analyse every run of ``folder`` and print the table and summary (see module doc)."""
    from andreev.analysis import report

    rows = []
    sweeps: list[tuple] = []
    print(
        f"{'series':<18}{'Tc':>7}{'truth':>7}{'-err':>7}{'+err':>7}{'dTc':>7}{'pull':>6}"
        "  film Δc pull per step (T: pull)"
    )
    for run in sorted(folder.glob("*.h5")):
        truth = json.loads(run.with_suffix(".json").read_text())
        an = report.analyze_file(run, film="highest")
        c = an.closing.get("film")
        sweeps += [(run.stem, *row) for row in _sweeps(an, truth)]
        steps = " ".join(f"{t:.2f}:{p:+.1f}" for t, p in _gap_c_pulls(an, truth))
        if c is None or not c.success:
            msg = "no closing" if c is None else c.message
            print(f"{run.stem:<18}  {msg}  {steps}")
            rows.append((run.stem, math.nan, truth["tc"], math.nan, math.nan, math.nan))
            continue
        pull = abs(c.tc - truth["tc"]) / _side(c, truth["tc"])
        print(
            f"{run.stem:<18}{c.tc:7.3f}{truth['tc']:7.3f}{c.tc_error_low:7.3f}"
            f"{c.tc_error_high:7.3f}{c.tc - truth['tc']:+7.3f}{pull:6.2f}  {steps}",
            flush=True,
        )
        rows.append((run.stem, c.tc, truth["tc"], c.tc_error_low, c.tc_error_high, pull))
    pulls = np.array([r[5] for r in rows if math.isfinite(r[5])])
    dtc = np.array([r[1] - r[2] for r in rows if math.isfinite(r[5])])
    failed = len(rows) - pulls.size
    print(
        f"\n{len(rows)} series, {failed} without Tc; pull rms {np.sqrt(np.mean(pulls**2)):.2f}, "
        f"largest {pulls.max():.2f}; |Tc − truth| > 0.1 K: {int(np.sum(np.abs(dtc) > 0.1))}; "
        f"beyond 3σ: {int(np.sum(pulls > 3))}; beyond 2σ: {int(np.sum(pulls > 2))}; "
        f"within 1σ {np.mean(pulls < 1):.0%}, 2σ {np.mean(pulls < 2):.0%}; "
        f"Tc − truth: mean {np.mean(dtc):+.3f} K, rms {np.sqrt(np.mean(dtc**2)):.3f} K"
    )
    _print_sweep_pulls(sweeps)
    if dump is not None:
        dump.write_text(json.dumps({"series": rows, "sweeps": sweeps}), encoding="utf-8")
    if csv is not None:
        lines = ["series,tc,truth,err_low,err_high,pull"]
        lines += [",".join([r[0], *(f"{v:.5g}" for v in r[1:])]) for r in rows]
        csv.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _print_sweep_pulls(sweeps: list[tuple]) -> None:
    """Pull rms of the film fits' Δc per band of T/Tc, and of the forward − backward
    differences of the same step (what the sweeps' own scatter says)."""
    if not sweeps:
        return
    a = np.array([row[1:] for row in sweeps], dtype=float)
    pull = (a[:, 2] - a[:, 4]) / a[:, 3]
    print("film Δc per sweep, pull rms (n) by T/Tc:", end="")
    for lo, hi in ((0, 0.3), (0.3, 0.6), (0.6, 0.75), (0.75, 1.0)):
        m = (a[:, 1] >= lo) & (a[:, 1] < hi)
        if np.any(m):
            print(f"  {lo:.2f}–{hi:.2f}: {np.sqrt(np.mean(pull[m] ** 2)):.2f} ({m.sum()})", end="")
    print()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("acquire")
    a.add_argument("dir", type=Path)
    a.add_argument("--samples", nargs="+", default=["InO-2", "InO-3"])
    a.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    a.add_argument("--lists", nargs="+", default=["a", "b"])
    z = sub.add_parser("analyze")
    z.add_argument("dir", type=Path)
    z.add_argument("--csv", type=Path)
    z.add_argument("--json", type=Path, help="write the per-series and per-sweep figures")
    args = p.parse_args(argv)
    if args.cmd == "acquire":
        args.dir.mkdir(parents=True, exist_ok=True)
        for seed in args.seeds:
            for sample in args.samples:
                for tlist in args.lists:
                    acquire_one(sample, seed, tlist, args.dir)
    else:
        analyze_dir(args.dir, args.csv, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
