"""The training engine: one cell's `keras.Sequential` trained with the course's iteration protocol.

The step loop runs inside the graph. One `tf.function` call trains a *chunk* of iterations —
several eval periods — with the training and test tensors resident, batches sampled in-graph
from a stateless RNG keyed on (seed, iteration), and the test set evaluated in one large batch
at each eval point. Python sees the chunk's recorded values once per call and hands them to the
Keras callbacks (MLflow logging is one of them). `step_by_step=True` runs the same step and
evaluation functions one iteration per call instead: the reference the engine is tested against.

Protocol (the course's): iteration i = 1..N draws a batch, updates the weights and records the
batch loss (`train_loss`); at i = 0, eval_every, 2·eval_every, … and at N the task's eval metrics
(study/task.py: test accuracy and loss and training accuracy for classification; test MAE, loss
and MSE and training MAE for regression) are recorded. `train.early_stopping` ends a cell at the
eval point where its metric stopped improving (study/engine/stopping.py).
"""

from __future__ import annotations

import gc
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from study.config import Settings
from study.data import Dataset
from study.data.prepare import ALIGN
from study.engine.backend import deterministic_ops, ensure, keras, tf
from study.engine.diagnostics import (
    activation_layers,
    kernel_layers,
    layer_stats,
    stat_names,
)
from study.engine.model import build_model, kernel_initializer
from study.engine.optimizers import build_optimizer
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
from study.task import Task, task_of

FULL_TRAIN_EVAL_LIMIT = 10_000  # `eval_train: auto` evaluates the whole training set up to this size
EVAL_BATCH = 10_000  # rows per forward pass when evaluating a whole split


def set_seed(seed: int) -> None:
    """Seed Python, NumPy and Keras globally, and make TensorFlow's ops deterministic.

    The engine does not need it — every random draw it makes is keyed explicitly on the cell's
    seed — and calls only `deterministic_ops`: re-seeding TensorFlow's global generator throws
    away the kernels prepared for already traced graphs (~0.1 s per cell).
    """
    keras.utils.set_random_seed(seed)
    deterministic_ops()


def eval_train_mode(settings: Settings, train_rows: int) -> str:
    """`full` or `batch`: what `train_acc` is measured on (see TrainConfig.eval_train)."""
    mode = settings.train.eval_train
    if mode == "auto":
        return "full" if train_rows <= FULL_TRAIN_EVAL_LIMIT else "batch"
    return mode


# Settings a cell may change without changing the graph: `Engine.reset` applies them to a cached
# engine, so a grid traces one graph per model structure instead of one per cell.
RUNTIME_SETTINGS = {
    "model": ("initializer", "init_std"),
    "optimizer": ("lr",),
    "train": ("iterations", "eval_every", "steps_per_call", "diagnostics_every", "early_stopping"),
    "data": ("dir",),
}
ENGINE_CACHE_SIZE = 4  # engines (graphs, models) kept per process; a grid rarely has more structures


def graph_key(settings: Settings, data: Dataset) -> str:
    """What decides an engine's graph: the settings minus RUNTIME_SETTINGS, and the data's identity."""
    doc = settings.model_dump(mode="json")
    for section, fields in RUNTIME_SETTINGS.items():
        for name in fields:
            if not (name == "lr" and settings.optimizer.schedule is not None):  # a schedule's rates are traced
                doc[section].pop(name)
    doc["diagnose"] = settings.train.diagnostics_every > 0
    doc["data_identity"] = [data.name, data.digest, len(data.y_train), len(data.y_test), list(data.x_train.shape[1:])]
    return json.dumps(doc, sort_keys=True)


_engines: OrderedDict[str, Engine] = OrderedDict()
_resident: dict[int, tuple] = {}
_building: dict[str, threading.Thread] = {}  # graph key -> the thread building it (study/engine/prefetch.py)


def engine_for(settings: Settings, seed: int, data: Dataset) -> Engine:
    """A ready engine for this cell: a cached one with the same graph (built ahead, perhaps), reset, or a new one."""
    key = graph_key(settings, data)
    if key in _building:
        _building[key].join()
    engine = _engines.pop(key, None)
    if engine is None:
        evict(ENGINE_CACHE_SIZE - 1)
        engine = Engine(settings, data)
    _engines[key] = engine
    engine.reset(settings, seed)
    return engine


def evict(keep: int) -> None:
    """Drop the least recently used engines until `keep` are left, once no engine is being built ahead."""
    if len(_engines) <= keep:
        return
    for thread in list(_building.values()):
        thread.join()  # clear_session must not run under a build
    while len(_engines) > keep:
        _engines.popitem(last=False)
        keras.backend.clear_session()  # let the evicted model's graphs go: flat memory over a grid
        gc.collect()


def resident(data: Dataset) -> tuple:
    """The dataset as constant tensors, created once per Dataset object (engines share them)."""
    key = id(data)
    if key not in _resident or _resident[key][0] is not data:
        if len(_resident) >= ENGINE_CACHE_SIZE:
            _resident.pop(next(iter(_resident)))
        _resident[key] = (
            data,
            tensor_of(data.x_train),
            tensor_of(data.y_train),
            tensor_of(data.x_test),
            tensor_of(data.y_test),
            None if data.x_val is None else tensor_of(data.x_val),
            None if data.y_val is None else tensor_of(data.y_val),
        )
    return _resident[key][1:]


def tensor_of(array: np.ndarray) -> tf.Tensor:
    """A constant tensor of the array: its own memory when aligned (study/data/prepare.py allocates a
    dataset's arrays so; the Dataset's arrays are never written after), else a copy. Copying the
    training set cost about 0.5 s and its size in memory per dataset."""
    if array.size and array.flags.c_contiguous and array.flags.writeable and array.ctypes.data % ALIGN == 0:
        return tf.experimental.dlpack.from_dlpack(array.__dlpack__())
    return tf.constant(array)


class Engine:
    """Holds a model, its optimizer and the resident data; trains a cell chunk by chunk in-graph.

    One engine serves every cell with the same graph (see `graph_key`): `reset` gives the model
    the cell's initial weights, zeroes the optimizer and sets the seed and learning rate, so a
    reused engine produces exactly the numbers a freshly built one would.
    """

    def __init__(self, settings: Settings, data: Dataset):
        self.settings = settings
        self.task = task_of(settings)
        self.batch_size = settings.train.batch_size
        self.model = build_model(settings.model, data.input_shape, outputs_of(self.task, data))
        self.optimizer = build_optimizer(settings.optimizer)
        self.variables = self.model.trainable_variables
        self.optimizer.build(self.variables)
        self.seed = tf.Variable(0, dtype=tf.int64, trainable=False)  # the cell's seed, read in-graph
        self.x_train, self.y_train, self.x_test, self.y_test, self.x_val, self.y_val = resident(data)
        if self.task.validation and self.x_val is None:
            raise ValueError(f"data.validation is set but dataset {data.name!r} has no validation arrays")
        if self.task.kind == "regression" and len(self.y_train.shape) == 1:  # one target: (N,) -> (N, 1)
            self.y_train, self.y_test = self.y_train[:, None], self.y_test[:, None]
            if self.y_val is not None:
                self.y_val = self.y_val[:, None]
        self.train_rows = int(data.x_train.shape[0])
        self.full_train_eval = eval_train_mode(settings, self.train_rows) == "full"
        self.steps_per_epoch = self.train_rows // self.batch_size
        self.order = tf.Variable(tf.range(self.train_rows), trainable=False)  # epoch_shuffle's permutation
        self.diagnose = settings.train.diagnostics_every > 0
        self.stat_names = stat_names(self.model) if self.diagnose else []
        self.kernels = [layer.kernel for layer in kernel_layers(self.model)]
        self.act_names = {layer.name for layer in activation_layers(self.model)}
        self.kernel_layers = kernel_layers(self.model)
        # Everything but the kernels restarts from its built value: biases, BN statistics and
        # affine parameters, optimizer slots and iteration counter.
        self.initial = [(v, v.numpy()) for v in self.model.weights + self.optimizer.variables]
        # Written with explicit tf.while_loop / tf.cond, so no autograph: converting the engine's and
        # Keras's Python to graph code was most of a structure's trace time.
        self.run_chunk = tf.function(self._chunk, autograph=False)
        self.run_step = tf.function(self._step, autograph=False)
        self.run_eval = tf.function(self._evaluate, autograph=False)

    def reset(self, settings: Settings, seed: int) -> None:
        """Start the cell `settings` at `seed`: initial weights, fresh optimizer, seed, learning rate."""
        self.settings = settings
        for var, value in self.initial:
            var.assign(value)
        for i, layer in enumerate(self.kernel_layers):
            init = kernel_initializer(settings.model, seed=derived_seed(seed, i))
            layer.kernel.assign(init(layer.kernel.shape, dtype=layer.kernel.dtype))
        for i, layer in enumerate(self.model.layers):
            generator = getattr(layer, "seed_generator", None)
            if generator is not None:  # dropout masks: a stream per layer, keyed on the cell's seed
                generator.state.assign(tf.constant([derived_seed(seed, 1000 + i), 0], tf.int64))
        if settings.optimizer.schedule is None:  # a schedule is part of the graph (see graph_key)
            self.optimizer.learning_rate = settings.optimizer.lr
        self.seed.assign(seed)

    # --- in-graph pieces -------------------------------------------------------------------

    def _batch_indices(self, step: tf.Tensor) -> tf.Tensor:
        """Rows of iteration `step` (1-based): drawn with replacement, or the epoch's permutation."""
        if self.settings.train.sampling == "with_replacement":
            key = tf.stack([self.seed, tf.cast(step, tf.int64)])
            return tf.random.stateless_uniform([self.batch_size], key, 0, self.train_rows, dtype=tf.int32)
        i = tf.cast(step, tf.int32) - 1
        pos = (i % self.steps_per_epoch) * self.batch_size

        def shuffle() -> tf.Tensor:  # a new epoch: its permutation, keyed on (seed, epoch)
            key = tf.stack([self.seed, -1 - tf.cast(i // self.steps_per_epoch, tf.int64)])
            self.order.assign(tf.random.experimental.stateless_shuffle(tf.range(self.train_rows), key))
            return tf.constant(True)

        with tf.control_dependencies([tf.cond(tf.equal(pos, 0), shuffle, lambda: tf.constant(False))]):
            return self.order[pos : pos + self.batch_size]

    def _losses(self, y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        """The per-example loss of `model.loss`.

        Cross-entropy: Keras computes it from the softmax's logits (an exact log-softmax), so it
        is not capped: the course's `-log(p + 1e-7)` can never exceed 16.1 per example, ours can —
        which is what lets a diverging run reach inf/NaN and be stopped. Regression: Keras's
        mean_squared_error / mean_absolute_error / …_percentage_error / …_logarithmic_error,
        averaged over the targets.
        """
        if self.task.kind == "classification":
            return keras.losses.sparse_categorical_crossentropy(y, out)
        return keras.losses.get(self.task.loss)(y, out)

    def _loss(self, y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        """The batch's mean loss."""
        return tf.reduce_mean(self._losses(y, out))

    def _forward(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The model's output, layer by layer (as Sequential does), keeping the hidden activations."""
        acts = {}
        for layer in self.model.layers:
            x = layer(x, training=training)
            if layer.name in self.act_names:
                acts[layer.name] = x
        return x, acts

    def _step(self, step: tf.Tensor, last: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """One iteration; returns the batch loss (data + penalties), the batch's rows, and — when
        diagnostics are on and `last` is true — the per-layer statistics of this very step."""
        idx = self._batch_indices(step)
        xb, yb = tf.gather(self.x_train, idx), tf.gather(self.y_train, idx)
        with tf.GradientTape() as tape:
            probs, acts = self._forward(xb, training=True)
            loss = self._loss(yb, probs)
            if self.model.losses:
                loss = loss + tf.add_n(self.model.losses)
        grads = tape.gradient(loss, self.variables)
        before = {k.path: tf.identity(k) for k in self.kernels} if self.diagnose else {}
        self.optimizer.apply(grads, self.variables)
        if not self.diagnose:
            return loss, idx, tf.zeros([0])
        by_path = {v.path: g for v, g in zip(self.variables, grads)}
        stats = tf.cond(
            last, lambda: layer_stats(self.model, by_path, before, acts), lambda: tf.zeros([len(self.stat_names)])
        )
        return loss, idx, stats

    def _sums(self, y: tf.Tensor, out: tf.Tensor) -> list[tf.Tensor]:
        """Per-slice sums of [score, loss, extras…]: correct predictions, or absolute / squared errors."""
        losses = self._losses(y, out)
        if self.task.kind == "classification":
            pred = tf.argmax(out, axis=-1, output_type=tf.int32)
            return [tf.reduce_sum(tf.cast(tf.equal(pred, y), tf.float32)), tf.reduce_sum(losses)]
        err = out - tf.cast(y, out.dtype)
        return [
            tf.reduce_sum(tf.reduce_mean(tf.abs(err), axis=-1)),
            tf.reduce_sum(losses),
            tf.reduce_sum(tf.reduce_mean(tf.square(err), axis=-1)),
        ]

    def _split_metrics(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        """[score, mean loss, extras…] over a whole split, in slices of at most EVAL_BATCH rows."""
        rows = int(x.shape[0])
        totals = None
        for start in range(0, rows, EVAL_BATCH):  # unrolled at trace time: sizes are static
            # a slice copies its rows: take the whole tensor when it fits in one batch
            xs, ys = (x, y) if rows <= EVAL_BATCH else (x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH])
            sums = self._sums(ys, self.model(xs, training=False))
            totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
        return [t / rows for t in totals or []]

    def _evaluate(self, batch_idx: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """The task's eval metrics with the current weights, in `Task.eval_metrics` order
        (train score, test score, test loss, test extras, then validation score and loss)."""
        if self.full_train_eval:
            train = self._split_metrics(self.x_train, self.y_train)
        else:
            batch_idx = tf.ensure_shape(batch_idx, [self.batch_size])  # epoch_shuffle's slice has no static length
            train = self._split_metrics(tf.gather(self.x_train, batch_idx), tf.gather(self.y_train, batch_idx))
        test = self._split_metrics(self.x_test, self.y_test)
        val = self._split_metrics(self.x_val, self.y_val)[:2] if self.task.validation else []
        return (train[0], test[0], test[1], *test[2:], *val)

    def _chunk(self, start: tf.Tensor, periods: tf.Tensor, period_len: tf.Tensor):
        """`periods` eval periods of `period_len` iterations after iteration `start`, in one graph."""
        losses = tf.TensorArray(tf.float32, size=periods * period_len)
        evals = tf.TensorArray(tf.float32, size=periods, element_shape=[len(self.task.eval_metrics)])
        diags = tf.TensorArray(tf.float32, size=periods, element_shape=[len(self.stat_names)])
        no_stats = tf.zeros([len(self.stat_names)])

        def period(p, idx, losses, evals, diags):
            def step(i, idx, stats, losses):
                loss, idx, stats = self._step(start + p * period_len + i + 1, tf.equal(i, period_len - 1))
                return i + 1, idx, stats, losses.write(p * period_len + i, loss)

            _, idx, stats, losses = tf.while_loop(
                lambda i, *_: i < period_len, step, (tf.constant(0), idx, no_stats, losses)
            )
            evals = evals.write(p, tf.stack(self._evaluate(idx)))
            return p + 1, idx, losses, evals, diags.write(p, stats)

        idx = self._batch_indices(start + 1)  # what an eval before any step (period_len 0) sees
        _, _, losses, evals, diags = tf.while_loop(
            lambda p, *_: p < periods, period, (tf.constant(0), idx, losses, evals, diags)
        )
        return losses.stack(), evals.stack(), diags.stack()

    # --- Python side ------------------------------------------------------------------------

    def initial_eval(self, step_by_step: bool) -> np.ndarray:
        """Evaluation at iteration 0 (train_acc on the batch iteration 1 will draw)."""
        if step_by_step:
            return np.array([float(v) for v in self.run_eval(self._batch_indices(tf.constant(1)))], np.float32)
        return self.chunk(0, 1, 0, step_by_step)[1][0]

    def chunk(self, start: int, periods: int, period_len: int, step_by_step: bool):
        """(losses, evals, diagnostics) of a chunk run in one graph call, or step by step (the reference)."""
        if not step_by_step:
            out = self.run_chunk(tf.constant(start), tf.constant(periods), tf.constant(period_len))
            return tuple(t.numpy() for t in out)
        losses, evals, diags = [], [], []
        for p in range(periods):
            for i in range(period_len):
                loss, idx, stats = self.run_step(
                    tf.constant(start + p * period_len + i + 1), tf.constant(i == period_len - 1)
                )
                losses.append(float(loss))
            evals.append([float(v) for v in self.run_eval(idx)])
            diags.append(stats.numpy())
        return (
            np.array(losses, np.float32),
            np.array(evals, np.float32),
            np.array(diags, np.float32).reshape(periods, len(self.stat_names)),
        )


def outputs_of(task: Task, data: Dataset) -> int:
    """Output width: the classes, or the regression targets (checked against the data's labels)."""
    integer_labels = np.issubdtype(data.y_train.dtype, np.integer)
    if task.kind == "classification":
        if not integer_labels:
            raise ValueError(
                f"model.loss cross_entropy needs class labels; dataset {data.name!r} has real-valued targets "
                "(use a regression loss: mse, mae, mape, msle)"
            )
        return data.num_classes
    if integer_labels:
        raise ValueError(
            f"model.loss {task.loss} is a regression loss and needs real-valued targets; dataset {data.name!r} "
            "has class labels (use model.loss: cross_entropy)"
        )
    return 1 if data.y_train.ndim == 1 else int(data.y_train.shape[1])


def derived_seed(seed: int, index: int) -> int:
    """A per-layer seed from the cell's seed, so layers draw independent initial weights."""
    return (seed * 1_000_003 + index) % 2**31


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
    for cb in callbacks:
        cb.set_model(engine.model)
        cb.on_train_begin()
    stopper = EarlyStopper.of(settings, task)
    history: dict[str, list[float]] = {name: [] for name in task.eval_metrics}
    first = shortest(engine.initial_eval(step_by_step))
    records = ChunkRecords(np.zeros(0, np.int64), np.zeros(0, np.float32), np.array([0]), evals_of(task, first[None]))
    stopped_at = deliver(callbacks, records, history)
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
        records = ChunkRecords(steps, losses, eval_steps, evals_of(task, evals))
        if engine.diagnose:
            due = diagnostics_due(eval_steps, settings)
            records.extra_steps = eval_steps[due]
            records.extra = {name: diags[due, j] for j, name in enumerate(engine.stat_names)}
        bad = ~np.isfinite(losses)
        if bad.any():
            k = int(np.argmax(bad))
            deliver(callbacks, records.until(int(steps[k]), diagnostics=False), history)
            raise Diverged(int(steps[k]), float(losses[k]))
        stopped_at = stopper.check(records) if stopper else None
        if stopped_at is not None:  # the rest of this chunk was computed but is not the cell's
            records = records.until(stopped_at, diagnostics=True)
        asked = deliver(callbacks, records, history)  # a callback's stop comes first: the records end there
        stopped_at = asked if asked is not None else stopped_at
        if stopped_at is not None:
            break
    rows = {"test": len(data.y_test), "train": engine.train_rows if engine.full_train_eval else engine.batch_size}
    if data.y_val is not None:
        rows["val"] = len(data.y_val)
    summary = Summary(
        summary_values(task, history, rows),
        iterations=stopped_at if stopped_at is not None else settings.train.iterations,
        wall_time_s=round(time.perf_counter() - t0, 3),
        stopped_at=stopped_at,
    )
    for cb in callbacks:
        cb.on_train_end(summary.metrics())
    return summary
