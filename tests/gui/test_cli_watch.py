"""``andreev watch`` on the command line: light import, the missing-extra message, and a
headless screenshot that picks the offscreen platform by itself."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gui import runs

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, *args: str, **env_changes: str | None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_help_lists_watch_without_importing_qt() -> None:
    code = (
        "import sys\n"
        "from andreev.cli import build_parser\n"
        "text = build_parser().format_help()\n"
        "import andreev.cli.watch\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('PySide6', 'pyqtgraph', 'h5py', 'andreev.gui')]\n"
        "print('watch' in text, heavy)\n"
    )
    result = run_python(code)
    assert result.stdout.strip() == "True []", result.stderr


@pytest.mark.parametrize(
    ("argv", "name"), [(["watch"], "run.h5"), (["gui", "--config"], "station.yaml")]
)
def test_without_the_gui_extra_one_line_and_non_zero(
    argv: list[str], name: str, tmp_path: Path
) -> None:
    code = (
        "import sys\n"
        "sys.modules['pyqtgraph'] = None\n"
        "sys.modules['PySide6'] = None\n"
        "from andreev.cli import main\n"
        f"sys.exit(main({argv!r} + [sys.argv[1]]))\n"
    )
    result = run_python(code, str(tmp_path / name))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and 'pip install -e ".[gui]"' in lines[0], result.stderr
    assert lines[0].startswith(f"error: andreev {argv[0]} needs the gui extra"), lines[0]


def test_screenshot_without_a_display_goes_offscreen(tmp_path: Path) -> None:
    pytest.importorskip("pyqtgraph", reason="the gui extra is not installed")
    path = runs.make_run(tmp_path / "run.h5", 9)
    png = tmp_path / "docs" / "watch.png"
    code = "import sys\nfrom andreev.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    result = run_python(
        code,
        "watch",
        str(path),
        "--screenshot",
        str(png),
        "--after",
        "0.5",
        DISPLAY=None,
        WAYLAND_DISPLAY=None,
        QT_QPA_PLATFORM=None,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"screenshot: {png}"
    assert png.stat().st_size > 20_000
