"""Running the `study` command in-process for property tests: its exit code and output, and the two outcomes
every generated input must end in (exit 0, or exit 2 with one line and nothing written)."""

from __future__ import annotations

import contextlib
import io
import os
from pathlib import Path

from hypothesis import event

from study import cli


def study_cli(argv: list[str], cwd: Path) -> tuple[int, str, str]:
    """`study ARGV` in-process in `cwd` with a store of its own there: exit code, stdout, stderr.

    Anything other than an exit code (a traceback) escapes and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    old, env = os.getcwd(), os.environ.get("MLFLOW_TRACKING_URI")
    os.chdir(cwd)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(argv)
            except SystemExit as exc:  # argparse
                rc = exc.code if isinstance(exc.code, int) else 1
    finally:
        os.chdir(old)
        if env is not None:
            os.environ["MLFLOW_TRACKING_URI"] = env
    return rc, out.getvalue(), err.getvalue()


def assert_clean_outcome(rc: int, err: str) -> None:
    """Exit 0, or exit 2 with one line that starts with `error:`."""
    assert rc in (0, 2), (rc, err)
    if err.startswith("store: "):  # a store command names its store on the line before its error
        err = err.split("\n", 1)[1]
    if rc == 2:
        assert err.count("\n") == 1 and err.startswith("error: "), err
    event(f"exit {rc}")


def assert_nothing_written(cwd: Path) -> None:
    """A refused command leaves no store: no mlruns/, no database."""
    assert not (cwd / "mlruns").exists(), list(cwd.iterdir())
    assert not list(cwd.glob("**/*.db"))
