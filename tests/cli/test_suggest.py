"""“Did you mean …?” for a mistyped command or option of ``andreev``."""

from __future__ import annotations

import pytest

from andreev.cli import build_parser, main
from andreev.cli.suggest import did_you_mean


@pytest.mark.parametrize(
    ("argv", "hint"),
    [
        (["rnu", "x.yaml"], "did you mean 'run'?"),
        (["statsu", "x.h5"], "did you mean 'status'?"),
        (["run", "x.yaml", "--dry-rnu"], "did you mean '--dry-run'?"),
        (["run", "x.yaml", "--conifg=s.yaml"], "did you mean '--config'?"),
        (["analyze", "x.h5", "--sumary"], "did you mean '--summary'?"),
    ],
)
def test_a_typo_gets_the_closest_command_or_option(
    argv: list[str], hint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: andreev: ") and line.endswith(hint)


@pytest.mark.parametrize(
    "argv",
    [
        ["zzzz"],  # nothing close
        ["run", "x.yaml", "--zzzzzz"],
        ["run", "x.yaml", "extra"],  # not an option: no guess
        ["status", "x.h5", "--dry-run"],  # another command's option is not offered
    ],
)
def test_no_guess_when_nothing_is_close(argv: list[str], capsys: pytest.CaptureFixture) -> None:
    assert main(argv) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "did you mean" not in line


def test_did_you_mean_reads_argparse_messages() -> None:
    parser = build_parser()
    message = "unrecognized arguments: --outt x (see andreev --help)"
    assert did_you_mean(parser, ["run", "e.yaml", "--outt", "x"], message) == (
        "; did you mean '--out'?"
    )
    assert did_you_mean(parser, [], "something else") == ""
