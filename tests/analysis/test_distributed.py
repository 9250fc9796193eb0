"""andreev analyze with its fits as Dask tasks: on a local cluster of 2 workers and on a
``dask scheduler`` + 2 ``dask worker`` processes started here on 127.0.0.1, the stored
results equal the serial path's, number for number."""

from __future__ import annotations

import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from andreev.physics import FilmModel
from andreev.storage import ResultGroup, RunWriter, read_analysis

pytest.importorskip("distributed")

TEMPERATURES = (0.05, 0.6, 1.1, 1.4)  # K
SETPOINTS = (1e-9, 1e-6)  # A
BIAS = np.linspace(-1.5e-3, 1.5e-3, 301)  # V
V_MOD, V_SET = 10e-6, 2e-3  # V


def _small_run(path: Path) -> Path:
    """A temperature series of 4 × 2 setpoints × 2 directions (16 sweeps, film model)."""
    rng = np.random.default_rng(3)
    film = FilmModel()
    with RunWriter.create(
        path,
        outer_name="temperature",
        outer_values=TEMPERATURES,
        outer_unit="K",
        setpoints=SETPOINTS,
        bias=BIAS,
        directions=("forward", "backward"),
        setpoint_bias=V_SET,
        v_mod_rms=V_MOD,
        config_yaml="synthetic: true\n",
        snapshot={"source": "tests/analysis/test_distributed.py"},
    ) as w:
        for i, t in enumerate(TEMPERATURES):
            for j, i_set in enumerate(SETPOINTS):
                g_n = i_set / V_SET
                for k in range(2):
                    t_meas = t * (1.0 + 0.002 * rng.standard_normal())
                    g = film.conductance(BIAS, g_n, t_meas, V_MOD)
                    g = g + 0.004 * g_n * rng.standard_normal(BIAS.size)
                    w.write_sweep(
                        i,
                        j,
                        k,
                        didv=g,
                        x=g,
                        y=0.0 * g,
                        current=np.cumsum(g) * 1e-5,
                        temperature=t_meas,
                        z=1e-9,
                        timestamp=1.7e9 + i,
                        g_normal=g_n,
                    )
    return path


def _analyze(path: Path, *flags: str) -> ResultGroup:
    """Run ``andreev analyze`` in a subprocess (as a user would); the stored results. On
    Dask, the progress bar (stderr, a pipe: a line per tenth) reaches every fit."""
    proc = subprocess.run(
        [sys.executable, "-m", "andreev", "analyze", str(path), *flags],
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if "--workers" not in flags or flags[flags.index("--workers") + 1] != "1":
        assert re.search(r"^\[#{30}\] (\d+)/\1 fits \(100 %\)", proc.stderr, re.M), proc.stderr
    stored = read_analysis(path)
    assert stored is not None
    return stored


def _same(a: ResultGroup, b: ResultGroup) -> None:
    """Equal stored results: every dataset's values bit for bit, every attribute (but the
    date written), every sub-group."""
    assert {k: v for k, v in a.attrs.items() if k != "date"}.keys() == b.attrs.keys() - {"date"}
    for key, value in a.attrs.items():
        if key != "date":
            _equal(value, b.attrs[key])
    assert a.datasets.keys() == b.datasets.keys()
    for key, (values, units, _) in a.datasets.items():
        _equal(values, b.datasets[key][0])
        assert units == b.datasets[key][1]
    assert a.groups.keys() == b.groups.keys()
    for key, group in a.groups.items():
        _same(group, b.groups[key])


def _equal(a: object, b: object) -> None:
    a, b = np.asarray(a), np.asarray(b)
    if a.dtype.kind == "f":
        np.testing.assert_array_equal(a, b)
    else:
        assert a.tolist() == b.tolist()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("dask")
    first = _small_run(base / "serial.h5")
    out = {"serial": first}
    for name in ("local", "scheduler", "second"):
        out[name] = base / f"{name}.h5"
        out[name].write_bytes(first.read_bytes())
    return out


@pytest.fixture(scope="module")
def grid_runs(grid_run, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Copies of the session's 6 × 5 grid run (5-D storage, read by the workers through
    its visit order), the serial one analysed in a subprocess."""
    base = tmp_path_factory.mktemp("dask_grid")
    out = {}
    for name in ("serial", "local", "scheduler"):
        out[name] = base / f"grid_{name}.h5"
        shutil.copy2(grid_run.path, out[name])
    return out


@pytest.fixture(scope="module")
def grid_serial(grid_runs: dict[str, Path]) -> ResultGroup:
    return _analyze(grid_runs["serial"], "--workers", "1")


@pytest.fixture(scope="module")
def serial(runs: dict[str, Path]) -> ResultGroup:
    stored = _analyze(runs["serial"], "--workers", "1")
    gap = np.asarray(stored.datasets["gap"][0], dtype=float)
    gap_c = np.asarray(stored.datasets["gap_c"][0], dtype=float)
    assert np.isfinite(gap).sum() >= 4 and np.isfinite(gap_c).any()  # fits ran and stored
    return stored


@pytest.mark.timeout(600)
def test_local_cluster_equals_serial(
    runs: dict[str, Path],
    serial: ResultGroup,
    grid_runs: dict[str, Path],
    grid_serial: ResultGroup,
) -> None:
    """Three files at once (two runs and a grid) on a local cluster of 2 worker processes."""
    local = _analyze(runs["local"], str(runs["second"]), str(grid_runs["local"]), "--workers", "2")
    _same(serial, local)
    for path, expected in ((runs["second"], serial), (grid_runs["local"], grid_serial)):
        stored = read_analysis(path)
        assert stored is not None
        _same(expected, stored)
    assert "maps" in grid_serial.groups


@pytest.mark.timeout(600)
def test_scheduler_and_workers_equal_serial(
    runs: dict[str, Path],
    serial: ResultGroup,
    grid_runs: dict[str, Path],
    grid_serial: ResultGroup,
) -> None:
    """A ``dask scheduler`` + 2 ``dask worker`` processes on 127.0.0.1, torn down after;
    a run and a grid."""
    from distributed import Client

    from andreev.analysis.distributed import local_scheduler

    with local_scheduler(2) as address:
        remote = _analyze(runs["scheduler"], str(grid_runs["scheduler"]), "--scheduler", address)
        with Client(address) as client:  # the workers started without Dask's profiler
            assert not any(client.run(_profiling).values())
    _same(serial, remote)
    grid = read_analysis(grid_runs["scheduler"])
    assert grid is not None
    _same(grid_serial, grid)


_profiling = lambda dask_worker: "profile" in dask_worker.periodic_callbacks  # noqa: E731


@pytest.mark.timeout(300)
def test_tasks_carry_the_path_and_indices_not_the_spectra(
    runs: dict[str, Path], serial: ResultGroup, tmp_path: Path
) -> None:
    """Every task submitted gets the file's path and its sweeps' indices and scalars; the
    workers read the dI/dV themselves: well under one spectrum's bytes per sweep pickled
    (a 301-point float64 spectrum: 2408 B). The results are the serial path's, the
    progress reaches every fit exactly, the local cluster's workers run without Dask's
    statistical profiler."""
    from andreev.analysis import distributed

    path = tmp_path / "run.h5"
    shutil.copy2(runs["serial"], path)
    sent: list[tuple[int, int, str]] = []  # (pickled bytes of the arguments, sweeps, path)
    with distributed.dask_client(2) as client:
        assert not any(client.run(_profiling).values())
        submit = client.submit

        def recording(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
            sent.append((len(pickle.dumps(args)), len(args[2]), args[0]))
            return submit(fn, *args, **kwargs)

        client.submit = recording  # type: ignore[method-assign]
        seen: list[tuple[int, int]] = []
        progress = lambda done, total, _: seen.append((done, total))  # noqa: E731
        (an,) = distributed.analyze_files([path], client, progress=progress)
    # every fit counted once (a chain's sweeps after its first held fit go out again)
    assert seen[-1] == (16, 16) and all(d <= t for d, t in seen)
    assert sum(n for _, n, _ in sent) >= 16  # every sweep went out in a task
    assert {where for *_, where in sent} == {str(path.resolve())}
    for size, n, _ in sent:
        assert size < 1000 + 300 * n, (size, n)  # the path, held fits; ≤ 300 B per sweep
    np.testing.assert_array_equal(an.values["gap"], serial.datasets["gap"][0])
    np.testing.assert_array_equal(an.values["gap_c"], serial.datasets["gap_c"][0])


def test_chunks_cover_every_sweep_once() -> None:
    from andreev.analysis.distributed import MAX_CHUNK, chunked

    for n, threads in ((0, 2), (1, 2), (7, 2), (1000, 2), (16000, 64)):
        chunks = chunked(list(range(n)), threads)
        assert [x for c in chunks for x in c] == list(range(n))
        assert all(0 < len(c) <= MAX_CHUNK for c in chunks)


def test_chunks_large_first_single_sweeps_at_the_end_few_tasks() -> None:
    """Guided chunks: sizes never grow, the wave ends on single sweeps (no worker idles
    long on the last chunk), and the task count stays a few per thread and log of the
    work, far below one task per sweep (the scheduler's ~3 ms per task stays small)."""
    from andreev.analysis.distributed import MAX_CHUNK, chunked

    for n, threads in ((64, 2), (1000, 2), (16000, 64)):
        sizes = [len(c) for c in chunked(list(range(n)), threads)]
        assert sizes == sorted(sizes, reverse=True)
        assert sizes[-threads:] == [1] * threads
        assert sizes[0] == min(MAX_CHUNK, -(-n // (2 * threads)))
        assert len(sizes) <= 4 * threads * (1 + np.log(n / threads)), len(sizes)
    assert len(chunked(list(range(16000)), 64)) < 16000 / 20


def test_wave_chunks_never_cross_a_file_and_balance_the_whole_wave() -> None:
    from andreev.analysis.distributed import wave_chunks

    files = [list(range(40)), list(range(100, 130)), list(range(200, 203))]
    plan = wave_chunks(files, 2)
    for n, items in enumerate(files):
        assert [x for m, c in plan if m == n for x in c] == items
    assert [m for m, _ in plan] == sorted(m for m, _ in plan)  # file by file, in order
    sizes = [len(c) for _, c in plan]
    assert sizes[0] == 19 and sizes[-3:] == [1, 1, 1]  # 73 sweeps in the wave: ⌈73/4⌉
