"""Whether the report may fork processes here, and how many: `$STUDY_REPORT_WORKERS` (1: none, all of the
report in its own process), else one per CPU this process may use. A fork is safe only in a process with
one thread, so a process with others (the end of `study run`, a notebook kernel) forks nothing."""

from __future__ import annotations

import multiprocessing
import os
import threading

from study.errors import StudyError
from study.runtime.numerics import default_threads

WORKERS_ENV = "STUDY_REPORT_WORKERS"


def default_workers() -> int:
    """$STUDY_REPORT_WORKERS (1: draw in the report's process), else one per CPU this process may use."""
    value = os.environ.get(WORKERS_ENV, "").strip()
    if not value:
        return default_threads()
    try:
        return max(1, int(value))
    except ValueError:
        raise StudyError(f"{WORKERS_ENV}={value!r} is not a number of processes; valid: an integer >= 1") from None


def can_fork() -> bool:
    """Whether this process may fork: the platform forks and no other thread runs."""
    return "fork" in multiprocessing.get_all_start_methods() and threading.active_count() == 1
