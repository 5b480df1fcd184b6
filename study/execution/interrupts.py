"""Ctrl-C and SIGTERM in the `study` process: both end a study the same way, but a signal that arrives
while a finished cell's run is being closed waits until that is queued, so the cell ends FINISHED and a
rerun does not train it again. A second signal meanwhile acts at once (a store or trainer that hangs)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from study.errors import Terminated


@dataclass
class _Signals:
    holding: int = 0  # how many `held()` blocks are open
    pending: KeyboardInterrupt | None = None  # the signal kept for `deliver()`


_signals = _Signals()


def install() -> None:
    """Make SIGINT and SIGTERM raise KeyboardInterrupt / Terminated, kept inside `held()` (main thread only)."""
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)


def on_signal(signum: int, frame: object) -> None:
    """Raise the signal's exception now, or keep it for `deliver()` when a `held()` block is open."""
    exc = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    if _signals.holding and _signals.pending is None:
        _signals.pending = exc
        return
    _signals.pending = None
    raise exc


@contextmanager
def held() -> Iterator[None]:
    """Signals that arrive inside the block are kept for `deliver()`; without `install()` (a notebook, a
    worker process) nothing is kept and the block changes nothing."""
    _signals.holding += 1
    try:
        yield
    finally:
        _signals.holding -= 1


def deliver() -> None:
    """Raise the signal a `held()` block kept, once no block is open."""
    pending = _signals.pending
    if pending is not None and not _signals.holding:
        _signals.pending = None
        raise pending
