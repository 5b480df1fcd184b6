"""Build and trace a later cell's engine in a background thread while the current cell trains.

Tracing a new model structure is Python work (Keras layers, autograph, the gradient), while a cell's
training runs in TensorFlow's C++ runtime without the GIL and, in `exact` numerics, mostly on one core.
So when a cell starts, the engine of the next cell with another structure is built, traced and run once
(an evaluation, which changes no weight) on the other core; `engine_for` then finds it ready and resets
it to that cell's seed as it does any cached engine. The graph is the one the main thread would have
traced, so the numbers are the same.
"""

from __future__ import annotations

import threading

from study.data.dataset import Dataset
from study.engine import training_loop as train
from study.engine.graph import Engine
from study.spec.settings import Settings


def prefetch(settings: Settings, data: Dataset) -> None:
    """Start building the engine of `settings` ahead, unless it is cached or being built; call it from the
    thread that trains (it may evict cached engines, which only that thread does)."""
    key = train.graph_key(settings, data)
    if key in train._engines or key in train._building:
        return
    train.evict(train.ENGINE_CACHE_SIZE - 1, data)
    thread = threading.Thread(target=build, args=(key, settings, data), name="engine-prefetch", daemon=True)
    train._building[key] = thread
    thread.start()


def build(key: str, settings: Settings, data: Dataset) -> None:
    """The background thread: a new engine, its chunk graph traced and run once, put in the cache."""
    try:
        engine = Engine(settings, data)
        engine.reset(settings, 0)
        engine.chunk(0, 1, 0, step_by_step=False)  # the evaluation at iteration 0: traces the graph every chunk uses
        train._engines[key] = engine
    except Exception:  # noqa: BLE001, S110 - the training thread then builds it itself and meets the error there
        pass
    finally:
        train._building.pop(key, None)
