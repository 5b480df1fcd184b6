"""The training engine: one cell's `keras.Sequential` trained with the course's iteration protocol.

`train_and_evaluate` takes a cached engine of the cell's graph (the model trained chunk by chunk
in-graph) or builds one, runs the chunks and hands each chunk's recorded values
to the Keras callbacks (MLflow logging is one of them) once per call.

Protocol (the course's): iteration i = 1..N draws a batch, updates the weights and records the
batch loss (`train_loss`); at i = 0, eval_every, 2·eval_every, … and at N the task's eval metrics
(test accuracy and loss and training accuracy for classification; test MAE, loss
and MSE and training MAE for regression) are recorded. `train.early_stopping` ends a cell at the
eval point where its metric stopped improving.
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from study.data.dataset import Dataset
from study.engine.backend import deterministic_ops, ensure, keras
from study.engine.graph import ENGINE_CACHE_BYTES, ENGINE_CACHE_SIZE, RESIDENT_DATASETS, Engine, data_key, eval_rows
from study.engine.records import (
    ChunkRecords,
    Diverged,
    Summary,
    chunks,
    deliver,
    diagnostics_due,
    evals_of,
    shortest,
    summary_values,
)
from study.engine.stopping import EarlyStopper
from study.spec.settings import Settings


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and Keras globally, and make TensorFlow's ops deterministic.

    The engine does not need it — every random draw it makes is keyed explicitly on the cell's
    seed — and calls only `deterministic_ops`: re-seeding TensorFlow's global generator throws
    away the kernels prepared for already traced graphs (~0.1 s per cell).
    """
    keras.utils.set_random_seed(seed)
    deterministic_ops()


# Settings a cell may change without changing the graph: `Engine.reset` applies them to a cached
# engine, so a grid traces one graph per model structure instead of one per cell.
RUNTIME_SETTINGS = {
    "model": ("initializer", "init_std"),
    "optimizer": ("lr",),
    "train": ("iterations", "eval_every", "steps_per_call", "diagnostics_every", "early_stopping", "callbacks"),
    "data": ("dir",),
}


def graph_key(settings: Settings, data: Dataset) -> str:
    """What decides an engine's graph: the settings minus RUNTIME_SETTINGS, and the data's identity."""
    doc = settings.model_dump(mode="json")
    for section, fields in RUNTIME_SETTINGS.items():
        for name in fields:
            if not (name == "lr" and settings.optimizer.schedule is not None):  # a schedule's rates are traced
                doc[section].pop(name)
    doc["diagnose"] = settings.train.diagnostics_every > 0
    if settings.graph_code_refs:  # edited model code (builder, loss, metrics) is another graph, even in a trainer
        from study.spec.builder import code_digest

        doc["code"] = [code_digest(ref) for ref in settings.graph_code_refs]
    doc["data_identity"] = [data.name, data.digest, len(data.y_train), len(data.y_test), list(data.x_train.shape[1:])]
    return json.dumps(doc, sort_keys=True)


_engines: OrderedDict[str, Engine] = OrderedDict()
_building: dict[str, threading.Thread] = {}  # graph key -> the thread building it (study/engine/prefetch.py)


def engine_for(settings: Settings, seed: int, data: Dataset) -> Engine:
    """A ready engine for this cell: a cached one with the same graph (built ahead, perhaps), reset, or a new one."""
    key = graph_key(settings, data)
    if key in _building:
        _building[key].join()
    engine = _engines.pop(key, None)
    if engine is None:
        evict(ENGINE_CACHE_SIZE - 1, data)
        engine = Engine(settings, data)
    _engines[key] = engine
    engine.reset(settings, seed)
    return engine


def evict(keep: int, data: Dataset | None = None) -> None:
    """Drop the least recently used engines, once no engine is being built ahead, until `keep` are left, their
    variables fit ENGINE_CACHE_BYTES and, with an engine of `data` to come, they hold RESIDENT_DATASETS datasets."""
    if not over_budget(keep, data):
        return
    for thread in list(_building.values()):
        thread.join()  # clear_session must not run under a build
    while over_budget(keep, data):
        _engines.popitem(last=False)
        keras.backend.clear_session(free_memory=False)  # let the evicted model's graphs go: flat memory over a grid
        gc.collect()  # once (clear_session's own collect would be a second full pass, ~0.3 CPU-s)


def over_budget(keep: int, data: Dataset | None) -> bool:
    """Whether the cached engines are more than `keep` or, past the most recently used one (perhaps training
    now), hold too many bytes or datasets (see `evict`)."""
    engines = list(_engines.values())
    if len(engines) > keep:
        return True
    datasets = {engine.data_key for engine in engines} | ({data_key(data)} if data is not None else set())
    too_big = sum(engine.nbytes for engine in engines) > ENGINE_CACHE_BYTES
    return len(engines) > 1 and (too_big or len(datasets) > RESIDENT_DATASETS)


def train_and_evaluate(
    settings: Settings,
    seed: int,
    data: Dataset,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    step_by_step: bool = False,
) -> Summary:
    """Train one cell and return its summary; callbacks receive every recorded value.

    Callbacks get `set_model`, `on_train_begin`, `on_epoch_end(k, logs)` per eval point (an
    "epoch" is an eval period; logs hold `step`, `train_acc`, `test_acc`, `test_loss`),
    `on_chunk_end(ChunkRecords)` where they define it, and `on_train_end(summary metrics)`.
    Raises Diverged when the loss stops being finite (after the callbacks saw the records). A callback
    that sets `stop_training` at an eval point ends training there: the records past it are dropped
    and the summary is that point's, with `stopped_at` set.
    """
    t0 = time.perf_counter()
    ensure(settings.train.numerics)  # threads and op determinism, before the first op
    engine = engine_for(settings, seed, data)
    task = engine.task
    if settings.train.callbacks:  # the user's own (train.callbacks), made here, where the cell trains
        from study.engine.own_model import own_callbacks

        callbacks = [*callbacks, *own_callbacks(settings.train.callbacks)]
    engine.model.stop_training = False  # a Keras callback's stop, read at each eval point (`deliver`)
    for cb in callbacks:
        cb.set_model(engine.model)
        cb.on_train_begin()
    stopper = EarlyStopper.of(settings, task)
    history: dict[str, list[float]] = {name: [] for name in task.eval_metrics}
    rows = eval_rows(settings, data)
    first = shortest(engine.initial_eval(step_by_step))
    records = ChunkRecords(
        np.zeros(0, np.int64), np.zeros(0, np.float32), np.array([0]), evals_of(task, first[None], rows)
    )
    stopped_at = deliver(callbacks, records, history, engine.model)
    if stopped_at is None and stopper:
        stopped_at = stopper.check(records)
    for start, periods, period_len in (
        []
        if stopped_at is not None
        else chunks(settings.train.iterations, settings.train.eval_every, settings.train.steps_per_call)
    ):
        if stopped_at is not None:
            break
        losses, evals, diags = (shortest(a) for a in engine.chunk(start, periods, period_len, step_by_step))
        steps = np.arange(start + 1, start + periods * period_len + 1)
        eval_steps = steps[period_len - 1 :: period_len]
        records = ChunkRecords(steps, losses, eval_steps, evals_of(task, evals, rows))
        if engine.diagnose:
            due = diagnostics_due(eval_steps, settings)
            records.extra_steps = eval_steps[due]
            records.extra = {name: diags[due, j] for j, name in enumerate(engine.stat_names)}
        bad = ~np.isfinite(losses)
        if bad.any():
            k = int(np.argmax(bad))
            deliver(callbacks, records.until(int(steps[k]), diagnostics=False), history, engine.model)
            raise Diverged(int(steps[k]), float(losses[k]))
        stopped_at = stopper.check(records) if stopper else None
        if stopped_at is not None:  # the rest of this chunk was computed but is not the cell's
            records = records.until(stopped_at, diagnostics=True)
        asked = deliver(callbacks, records, history, engine.model)  # a callback's stop comes first: records end there
        stopped_at = asked if asked is not None else stopped_at
        if stopped_at is not None:
            break
    summary = Summary(
        summary_values(task, history, rows),
        iterations=stopped_at if stopped_at is not None else settings.train.iterations,
        wall_time_s=round(time.perf_counter() - t0, 3),
        stopped_at=stopped_at,
    )
    for cb in callbacks:
        cb.on_train_end(summary.metrics())
    return summary
