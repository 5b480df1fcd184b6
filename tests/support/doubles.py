"""Test doubles shared by the tests: engine callbacks built on `study.engine.callbacks.EngineCallback`.

Import-light like conftest.py: nothing here imports TensorFlow (the engine hands the callbacks
NumPy arrays and Keras variables; `.numpy()` is all that is called on them).
"""

from __future__ import annotations

from study.engine.callbacks import EngineCallback

CURVES = ("train_loss", "train_acc", "test_acc", "test_loss")


class Recorder(EngineCallback):
    """A callback that keeps every value the engine hands out.

    - `model`: the trained model (set by the engine's `set_model`);
    - `initial`: every trainable variable's value when training begins, by variable path;
    - `curves`: per curve (train_loss and the task's eval metrics: CURVES for classification), the
      (iteration, value) pairs of every chunk, in order;
    - `diagnostics`: {(statistic name, iteration): value} of the per-layer diagnostics;
    - `epoch_logs`: the logs of every eval point (`step`, `train_acc`, `test_acc`, `test_loss`);
    - `summary`: the summary metrics handed to `on_train_end`.
    """

    def __init__(self) -> None:
        self.initial: dict[str, object] = {}
        self.curves: dict[str, list[tuple[int, float]]] = {"train_loss": []}
        self.diagnostics: dict[tuple[str, int], float] = {}
        self.epoch_logs: list[dict] = []
        self.summary: dict[str, float] | None = None

    def on_train_begin(self, logs=None) -> None:
        self.initial = {v.path: v.numpy().copy() for v in self.model.trainable_variables}

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.epoch_logs.append(dict(logs))

    def on_chunk_end(self, records) -> None:
        self.curves["train_loss"] += list(zip(records.steps.tolist(), records.train_loss.tolist()))
        for key, values in records.evals.items():
            self.curves.setdefault(key, []).extend(zip(records.eval_steps.tolist(), values.tolist()))
        for name, values in records.extra.items():
            for step, value in zip(records.extra_steps.tolist(), values.tolist()):
                self.diagnostics[(name, step)] = value

    def on_train_end(self, logs=None) -> None:
        self.summary = logs

    def values(self, key: str) -> list[float]:
        """One curve's values without their iterations."""
        return [value for _, value in self.curves[key]]


class Explode(EngineCallback):
    """A callback that raises once the engine has delivered real training steps (mid-cell)."""

    def on_chunk_end(self, records) -> None:
        if len(records.steps):
            raise RuntimeError("injected failure\nsecond line of the message")
