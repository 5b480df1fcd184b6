"""The first cell's engine built while the driver still works on the store.

Before the first cell can train, the process must import TensorFlow and Keras (3-5 s), load the
data and build and trace the cell's model; it must also import MLflow, open the store and create
the study's runs. The two chains do not depend on each other, so `start` runs the first on a
background thread as soon as the study is valid, and the data load (NumPy and zlib, which release
the GIL) overlaps the TensorFlow import. `wait` is called before a cell's first TensorFlow op: the
engine is then in the cache (study/engine/prefetch.py), traced, and the cell resets it to its own
seed as it does any cached engine, so the numbers are the ones it would have computed itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from study.data import Dataset
from study.grid import Cell

_thread: threading.Thread | None = None


def start(cell: Cell, load: Callable[[Cell], Dataset]) -> None:
    """Begin importing TensorFlow and building `cell`'s engine, on the data `load` gives it, in the
    background (once per process)."""
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=warm_up, args=(cell, load), name="engine-warm-up", daemon=True)
        _thread.start()


def warm_up(cell: Cell, load: Callable[[Cell], Dataset]) -> None:
    """The background thread: numerics first (before any TensorFlow op), then the data and the engine."""
    try:
        from study.engine.backend import ensure

        ensure(cell.settings.train.numerics)
        from study.engine.prefetch import prefetch

        prefetch(cell.settings, load(cell))
    except Exception:  # noqa: BLE001, S110 - the cell then meets the same error itself, on its own thread
        pass


def wait() -> None:
    """Block until the warm-up (if any) has configured TensorFlow and handed its engine to the cache."""
    if _thread is not None:
        _thread.join()
