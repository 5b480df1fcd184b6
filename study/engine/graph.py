"""The engine's graph: one cell's `keras.Sequential`, its optimizer and the resident data, trained in-graph.

One `tf.function` call trains a chunk of iterations, batches sampled in-graph from a stateless RNG keyed
on (seed, iteration), the test set evaluated in one batch at each eval point. `step_by_step=True` runs
one iteration per call instead: the reference the engine is tested against."""

from __future__ import annotations

import numpy as np

from study.data.dataset import Dataset
from study.data.prepare import ALIGN
from study.engine.backend import keras, tf
from study.engine.build import build_model, kernel_initializer
from study.engine.diagnostics import (
    activation_layers,
    all_layers,
    kernel_layers,
    layer_stats,
    stat_names,
)
from study.engine.optimizers import build_optimizer
from study.engine.own_functions import own_functions, per_example
from study.spec.settings import Settings
from study.spec.task import Task, builtin_task_kind, task_of

FULL_TRAIN_EVAL_LIMIT = 10_000  # `eval_train: auto` evaluates the whole training set up to this size
EVAL_BATCH = 10_000  # rows per forward pass when evaluating a whole split
EVAL_SLICES = 2  # independent row slices per forward pass, so TensorFlow's inter-op threads share it
SLICE_MIN_ROWS = 1024  # a batch smaller than this is evaluated whole: splitting it costs more than it saves
SLICE_ROW_MULTIPLE = 16  # slice boundaries on a multiple of 16 rows: 64-byte aligned, so slicing copies nothing
# Engines (graphs, models) kept per process (study/engine/training_loop.py): enough that a grid cycling
# through a few structures per value of an outer axis builds each once (a tiny engine holds ~9 MB).
ENGINE_CACHE_SIZE = 16
ENGINE_CACHE_BYTES = 256 * 2**20  # fewer engines once their variables and initial values pass this (the newest may)
RESIDENT_DATASETS = 4  # datasets as tensors kept per process; the cached engines hold no more than these

_resident: dict[int, tuple] = {}


def eval_train_mode(settings: Settings, train_rows: int) -> str:
    """`full` or `batch`: what `train_acc` is measured on (see TrainConfig.eval_train)."""
    mode = settings.train.eval_train
    if mode == "auto":
        return "full" if train_rows <= FULL_TRAIN_EVAL_LIMIT else "batch"
    return mode


def eval_rows(settings: Settings, data: Dataset) -> dict[str, int]:
    """The rows each split's accuracy counts over: the test set, the validation set, and the training
    subset (`eval_train: full`) or one batch."""
    train_rows = int(data.x_train.shape[0])
    full = eval_train_mode(settings, train_rows) == "full"
    rows = {"test": len(data.y_test), "train": train_rows if full else settings.train.batch_size}
    if data.y_val is not None:
        rows["val"] = len(data.y_val)
    return rows


def resident(data: Dataset) -> tuple:
    """The dataset as constant tensors, created once per Dataset object (engines share them)."""
    key = id(data)
    if key not in _resident or _resident[key][0] is not data:
        if len(_resident) >= RESIDENT_DATASETS:
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


def data_key(data: Dataset) -> tuple:
    """Which dataset an engine holds as tensors: two Dataset objects of the same data are one."""
    return (data.name, data.digest, len(data.y_train), len(data.y_test))


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
        self.shape = (tuple(data.input_shape), outputs_of(self.task, data))
        self.own = settings.model.builder is not None  # the user's own model (study/engine/own_model.py)
        self.own_loss = own_functions([self.task.loss])[0] if builtin_task_kind(self.task.loss) is None else None
        self.own_metrics = own_functions(settings.train.metrics)  # study/engine/own_functions.py
        self.model = build_model(settings.model, *self.shape)
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
        self.tap = activation_tap(self.model) if self.own and self.diagnose else None
        # Everything but the kernels restarts from its built value: biases, BN statistics and
        # affine parameters, optimizer slots and iteration counter.
        self.initial = [(v, v.numpy()) for v in self.model.weights + self.optimizer.variables]
        self.nbytes = 2 * sum(value.nbytes for _, value in self.initial)  # the variables and their initial values
        self.data_key = data_key(data)
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
        if self.own:  # the builder's own initial weights, drawn at this seed
            from study.engine.own_model import initial_weights

            for var, value in zip(self.model.weights, initial_weights(settings.model, *self.shape, seed), strict=True):
                var.assign(value)
        for i, layer in enumerate(self.kernel_layers if not self.own else ()):
            init = kernel_initializer(settings.model, seed=derived_seed(seed, i))
            layer.kernel.assign(init(layer.kernel.shape, dtype=layer.kernel.dtype))
        for i, layer in enumerate(all_layers(self.model) if self.own else self.model.layers):
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
        averaged over the targets. Your own loss: its per-example values.
        """
        if self.own_loss is not None:
            return per_example(self.own_loss, y, out)
        if self.task.kind == "classification":
            return keras.losses.sparse_categorical_crossentropy(y, out)
        return keras.losses.get(self.task.loss)(y, out)

    def _loss(self, y: tf.Tensor, out: tf.Tensor) -> tf.Tensor:
        """The batch's mean loss."""
        return tf.reduce_mean(self._losses(y, out))

    def _forward(self, x: tf.Tensor, training: bool) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
        """The model's output, layer by layer (as Sequential does), keeping the hidden activations; a builder's
        Functional model through its activation tap, a subclassed one by its own call (no activations)."""
        if self.own and not isinstance(self.model, keras.Sequential):
            if self.tap is None:
                return self.model(x, training=training), {}
            out, *hidden = self.tap(x, training=training)
            return out, {layer.name: y for layer, y in zip(activation_layers(self.model), hidden)}
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

    def _example_values(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        """Per-example [score, loss, extras…, your own metrics…] of the model on rows `x`: 1/0 for a correct
        prediction, or the absolute / squared error averaged over the targets."""
        out = self.model(x, training=False)
        losses = self._losses(y, out)
        own = [per_example(fn, y, out) for fn in self.own_metrics]
        if self.task.kind == "classification":
            pred = tf.argmax(out, axis=-1, output_type=tf.int32)
            return [tf.cast(tf.equal(pred, y), tf.float32), losses, *own]
        err = out - tf.cast(y, out.dtype)
        return [tf.reduce_mean(tf.abs(err), axis=-1), losses, tf.reduce_mean(tf.square(err), axis=-1), *own]

    def _sums(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        """Sums of [score, loss, extras…] over one batch of rows.

        The forward pass runs as EVAL_SLICES independent row slices, which TensorFlow's inter-op
        threads run side by side (each op is single-threaded under exact numerics). Only the
        per-example values are joined before summing, so the sums run over one vector; joining
        the activations instead would let the graph optimiser move the activation across the join
        and change the fused kernels. A row's output can still depend on its slice's size (the
        kernels' blocking): the slicing is a fixed function of the split's size, so the numbers are
        deterministic, and two slices give the very bits of one pass on the shapes of
        tests/integration/engine/test_slices.py and on the course's protocol (16 slices changed one test_loss
        of 201 by one ulp there: the slice count is part of the engine's numerics).
        """
        bounds = slice_bounds(int(x.shape[0]), EVAL_SLICES)
        if len(bounds) == 2:
            return [tf.reduce_sum(v) for v in self._example_values(x, y)]
        parts = [self._example_values(x[a:b], y[a:b]) for a, b in zip(bounds, bounds[1:])]
        return [tf.reduce_sum(tf.concat(list(column), axis=0)) for column in zip(*parts)]

    def _split_metrics(self, x: tf.Tensor, y: tf.Tensor) -> list[tf.Tensor]:
        """[score, mean loss, extras…] over a whole split, in batches of at most EVAL_BATCH rows."""
        rows = int(x.shape[0])
        totals = None
        for start in range(0, rows, EVAL_BATCH):  # unrolled at trace time: sizes are static
            # take the whole tensor when it fits in one batch (no slice op in the graph)
            xs, ys = (x, y) if rows <= EVAL_BATCH else (x[start : start + EVAL_BATCH], y[start : start + EVAL_BATCH])
            sums = self._sums(xs, ys)
            totals = sums if totals is None else [a + b for a, b in zip(totals, sums)]
        return [t / rows for t in totals or []]

    def _evaluate(self, batch_idx: tf.Tensor) -> tuple[tf.Tensor, ...]:
        """The task's eval metrics with the current weights, in `Task.eval_metrics` order (train score, test
        score, test loss, test extras, validation score and loss, then your own metrics split by split)."""
        if self.full_train_eval:
            train = self._split_metrics(self.x_train, self.y_train)
        else:
            batch_idx = tf.ensure_shape(batch_idx, [self.batch_size])  # epoch_shuffle's slice has no static length
            train = self._split_metrics(tf.gather(self.x_train, batch_idx), tf.gather(self.y_train, batch_idx))
        test = self._split_metrics(self.x_test, self.y_test)
        val = self._split_metrics(self.x_val, self.y_val) if self.task.validation else []
        own = 2 + len(self.task.extra)  # where your own metrics start in a split's values
        return (train[0], test[0], test[1], *test[2:own], *val[:2], *train[own:], *test[own:], *val[own:])

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


def activation_tap(model: keras.Model) -> keras.Model | None:
    """A Functional model that returns the model's output and its hidden activations (same layers, same
    weights); None for a Sequential (read layer by layer) or a model without activation layers."""
    acts = activation_layers(model)
    if isinstance(model, keras.Sequential) or not acts:
        return None
    return keras.Model(model.inputs, [model.outputs[0], *[layer.output for layer in acts]])


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


def slice_bounds(rows: int, slices: int) -> list[int]:
    """Row boundaries [0, …, rows] of at most `slices` near-equal slices on SLICE_ROW_MULTIPLE
    rows; [0, rows] (one slice) for fewer than SLICE_MIN_ROWS rows."""
    if slices < 2 or rows < SLICE_MIN_ROWS:
        return [0, rows]
    step = -(-rows // slices)
    step += -step % SLICE_ROW_MULTIPLE
    return [*range(0, rows, step), rows]


def derived_seed(seed: int, index: int) -> int:
    """A per-layer seed from the cell's seed, so layers draw independent initial weights."""
    return (seed * 1_000_003 + index) % 2**31
