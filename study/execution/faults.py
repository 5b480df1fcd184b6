"""Named fault points for testing only: a process SIGKILLs itself, sleeps or waits for its peers at an exact
point of a run when the environment variable STUDY_FAULTS names that point (docs/reliability.md).

STUDY_FAULTS is a comma-separated list of `POINT=ACTION` or `POINT:AT=ACTION` (AT: which occurrence, e.g.
a cell's position or a trial's number). Actions: `kill` (SIGKILL this process, after flushing the writer
the point hands over), `term` (SIGTERM this process), `sleep:SECONDS`, `barrier:N:DIR` (wait until N
processes reached the point: each touches a file in DIR). Points: `before-cells` (the parent run exists, no
cell started), `after-cell:K` (cells 1..K ended and are written, cell K+1 not started; local backend),
`cell` (a cell about to take its claim), `claimed` (between the check that a cell is free and the creation
of its run), `chunk` (after a chunk's metrics: they are then sent at once), `closing` (a cell trained, its
run being closed), `before-tell:N` (trial N ended, Optuna not yet told), `round:N` (adaptive seeds:
round N decided and recorded, the next round not started).

Unset (the normal case), a fault point is one check of an empty dict. Imports nothing beyond the standard
library.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

FAULTS_ENV = "STUDY_FAULTS"


def parse(text: str) -> dict[str, str]:
    """`POINT[:AT]=ACTION,...` -> {POINT[:AT]: ACTION}."""
    out: dict[str, str] = {}
    for item in text.split(","):
        if item.strip():
            point, sep, action = item.partition("=")
            if not sep:
                raise ValueError(f"{FAULTS_ENV}: {item!r} is not POINT=ACTION")
            out[point.strip()] = action.strip()
    return out


FAULTS = parse(os.environ.get(FAULTS_ENV, ""))


def fault_point(name: str, at: object = None, flush: Callable[[], object] | None = None) -> bool:
    """Act as STUDY_FAULTS says for this point (and occurrence `at`); True when it acted. `flush` is called
    before a kill, so what the point promises is written."""
    if not FAULTS:
        return False
    action = FAULTS.get(name) if at is None else FAULTS.get(f"{name}:{at}", FAULTS.get(name))
    if action is None:
        return False
    kind, _, arg = action.partition(":")
    if kind == "kill":
        if flush is not None:
            flush()
        os.kill(os.getpid(), signal.SIGKILL)
    elif kind == "term":
        os.kill(os.getpid(), signal.SIGTERM)
    elif kind == "sleep":
        time.sleep(float(arg))
    elif kind == "barrier":
        count, _, folder = arg.partition(":")
        barrier(Path(folder), int(count))
    else:
        raise ValueError(f"{FAULTS_ENV}: unknown action {action!r} at {name}")
    return True


def barrier(folder: Path, count: int) -> None:
    """Wait until `count` processes have reached this barrier (each leaves a file named by its pid)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / str(os.getpid())).touch()
    while len(list(folder.iterdir())) < count:
        time.sleep(0.02)
