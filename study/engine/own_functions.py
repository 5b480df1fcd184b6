"""Your own loss and metrics (`model.loss: "losses.py:focal_loss"`, `train.metrics: [...]`): imported, and
probed once on a tiny batch the way the engine calls them — in a graph — so a function that raises, or that
does not return one value per example, is refused before anything trains.

Each is `function(y_true, y_pred)` as Keras's losses and metric functions are: `y_true` the batch's class
labels (int32, shape (rows,)) or regression targets (float32, (rows, targets)), `y_pred` the model's output
(class probabilities, or the linear targets), and it returns one value per example, shape (rows,), which the
engine averages (a loss over the batch, a metric over a whole split).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from study.engine.backend import tf
from study.spec.builder import BuilderError, exception_text, load

PROBE_ROWS = 3  # a batch size no model output has by chance


def probe_batch(kind: str, outputs: int) -> tuple[tf.Tensor, tf.Tensor]:
    """(y_true, y_pred) of PROBE_ROWS examples as the engine hands them: labels and probabilities, or targets."""
    rng = np.random.default_rng(0)
    if kind == "classification":
        labels = rng.integers(0, outputs, PROBE_ROWS).astype(np.int32)
        return tf.constant(labels), tf.nn.softmax(tf.constant(rng.normal(size=(PROBE_ROWS, outputs)), tf.float32))
    targets = rng.random((PROBE_ROWS, outputs), dtype=np.float32)
    return tf.constant(targets), tf.constant(rng.random((PROBE_ROWS, outputs), dtype=np.float32))


def per_example(fn: Callable, y_true: tf.Tensor, y_pred: tf.Tensor) -> tf.Tensor:
    """Your function's per-example values in the output's dtype (a metric may return booleans or integers)."""
    return tf.cast(fn(y_true, y_pred), y_pred.dtype)


def check_own_function(ref: str, kind: str, outputs: int, is_loss: bool) -> None:
    """Import `ref` and call it in a graph on a probe batch; BuilderError says in words what is wrong: it
    raised, it does not return (rows,) numbers, or (a loss) no gradient reaches the model's output."""
    fn = load(ref)
    y_true, y_pred = probe_batch(kind, outputs)

    def probe(y_true: tf.Tensor, y_pred: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor | None]:
        with tf.GradientTape() as tape:
            tape.watch(y_pred)
            values = fn(y_true, y_pred)
        if not isinstance(values, (tf.Tensor, np.ndarray)) or not tf.as_dtype(values.dtype).is_floating:
            return values, None
        return values, tape.gradient(values, y_pred)

    try:
        values, gradient = tf.function(probe, autograph=False)(y_true, y_pred)
    except Exception as exc:  # the user's code may raise anything: said in one line, with where
        raise BuilderError(f"calling it on a batch raised {exception_text(exc)}") from None
    if not hasattr(values, "dtype"):
        raise BuilderError(f"it returned {type(values).__name__}, not a tensor of one value per example")
    dtype = tf.as_dtype(values.dtype)
    if not (dtype.is_floating or dtype.is_integer or dtype.is_bool):
        raise BuilderError(f"it returned {dtype.name} values; it must return numbers")
    if tuple(values.shape) != (PROBE_ROWS,):
        raise BuilderError(
            f"it returned shape {tuple(values.shape)} for a batch of {PROBE_ROWS} examples; it must return one "
            f"value per example, shape ({PROBE_ROWS},), as Keras's loss and metric functions do (no mean)"
        )
    if is_loss and gradient is None:
        raise BuilderError("no gradient flows from it to y_pred (the model's output): training could not move")


def own_functions(refs: list[str]) -> list[Callable]:
    """The functions named by these references, imported (BuilderError says why one cannot be)."""
    return [load(ref) for ref in refs]
