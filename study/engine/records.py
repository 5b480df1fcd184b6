"""What the engine records and how it hands it over: a chunk's values, a cell's summary, the chunk
schedule, and the delivery to callbacks (plain NumPy and Python: no TensorFlow here)."""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from study.spec.settings import Settings
from study.spec.task import Task

AUTO_STEPS_PER_CALL = 100  # iterations per graph call when `train.steps_per_call` is not set


class Diverged(RuntimeError):
    """The training loss became NaN or infinite (here, not in train.py: a driver that trains in another
    process catches it without importing TensorFlow)."""

    def __init__(self, step: int, value: float):
        super().__init__(f"loss became {value} at iteration {step}")
        self.step, self.value = step, value

    def __reduce__(self):  # pickled with its own arguments (sent back from a training process)
        return (Diverged, (self.step, self.value))


KERAS_TEMP_PREFIX = "study-keras-"  # + pid: a saved model's temporary folder (study/store/models.py: remove_orphans)


@dataclass(frozen=True)
class SavedKeras:
    """A trained model as Keras saved it, with what packaging it as an MLflow model needs (picklable: a
    training process saves, the driver packages and uploads, study/store/models.py)."""

    path: str  # the `.keras` file, alone in a temporary folder of its own
    keras_version: str
    keras_backend: str
    example: np.ndarray  # the first test rows, float32: the model's input example
    num_outputs: int  # the classes, or the regression targets
    code: dict[str, str] = field(default_factory=dict)  # a builder's code: name relative to its root -> file
    modules: tuple[str, ...] = ()  # what to import before loading it (its custom layers registered with Keras)


@dataclass
class ChunkRecords:
    """What one graph call recorded: per-iteration losses and the task's metrics per eval point.

    `evals` maps each of the task's eval metrics (study/spec/task.py) to its values at `eval_steps`;
    they read as attributes too (`records.test_acc`).
    """

    steps: np.ndarray  # iterations whose train_loss is recorded
    train_loss: np.ndarray
    eval_steps: np.ndarray
    evals: dict[str, np.ndarray]
    extra_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # diagnostics points
    extra: dict[str, np.ndarray] = field(default_factory=dict)  # name -> values at extra_steps

    def __getattr__(self, name: str) -> np.ndarray:
        evals = self.__dict__.get("evals", {})
        if name in evals:
            return evals[name]
        raise AttributeError(name)

    def until(self, step: int, diagnostics: bool) -> ChunkRecords:
        """The records up to and including iteration `step`, with or without the diagnostics."""
        keep, cut = self.steps <= step, self.eval_steps <= step
        out = ChunkRecords(
            self.steps[keep], self.train_loss[keep], self.eval_steps[cut], {k: v[cut] for k, v in self.evals.items()}
        )
        if diagnostics and len(self.extra_steps):
            due = self.extra_steps <= step
            out.extra_steps, out.extra = self.extra_steps[due], {k: v[due] for k, v in self.extra.items()}
        return out


@dataclass
class Summary:
    """The end of a cell: what the report and the final table show.

    `values` holds the task's summary metrics (study/spec/task.py), e.g. final_test_acc, best_test_acc,
    final_train_acc, final_test_loss; they read as attributes too (`summary.final_test_acc`).
    """

    values: dict[str, float]
    iterations: int
    wall_time_s: float
    stopped_at: int | None = None  # the eval point where early stopping ended the cell

    def __getattr__(self, name: str) -> float:
        values = self.__dict__.get("values", {})
        if name in values:
            return values[name]
        raise AttributeError(name)

    def metrics(self) -> dict[str, float]:
        return {**{k: float(v) for k, v in self.values.items()}, "wall_time_s": float(self.wall_time_s)}


def shortest(values: np.ndarray) -> np.ndarray:
    """float32 results as the float64 of their shortest decimal (0.71, not 0.7100000381): what the
    MLflow UI and the report show, and still exactly the float32 the engine computed."""
    return np.asarray(values, np.float32).astype(str).astype(np.float64)


def exact_ratio(accuracy: float, rows: int) -> float:
    """An accuracy the graph computed in float32 as correct / rows, as the exact ratio (0.9506, not
    0.95059997): the summary metrics users sort by. The float32 quotient is within a few ulp of the
    truth, far less than half a count for splits under a million rows, so the count comes back exactly."""
    return round(float(accuracy) * rows) / rows


def chunks(iterations: int, eval_every: int, steps_per_call: int | None) -> Iterator[tuple[int, int, int]]:
    """The schedule: (start, periods, period_len) per graph call, covering 1..iterations; generated as the
    cell trains (a long cell's schedule is never held whole)."""
    per_call = max(1, (steps_per_call or AUTO_STEPS_PER_CALL) // eval_every)
    full, rest = divmod(iterations, eval_every)
    start = 0
    while full > 0:
        n = min(per_call, full)
        yield start, n, eval_every
        start, full = start + n * eval_every, full - n
    if rest:
        yield start, 1, rest


def evals_of(task: Task, evals: np.ndarray, rows: dict[str, int]) -> dict[str, np.ndarray]:
    """A chunk's eval matrix (eval points × metrics) as {metric name: values}; accuracies as exact count
    ratios over their split's `rows` (the MLflow UI then shows test_acc 0.9542, not 0.95419997)."""
    return {
        name: exact_ratios(evals[:, j], rows[name.split("_")[0]]) if name.endswith("_acc") else evals[:, j]
        for j, name in enumerate(task.eval_metrics)
    }


def exact_ratios(values: np.ndarray, rows: int) -> np.ndarray:
    """`exact_ratio` of every value: float32 accuracies as correct / rows, exactly."""
    return np.round(np.asarray(values, np.float64) * rows) / rows


def summary_values(task: Task, history: dict[str, list[float]], rows: dict[str, int]) -> dict[str, float]:
    """The task's summary metrics from every eval point's values: finals, and the best test score;
    accuracies as exact count ratios over their split's `rows` (see `exact_ratio`)."""
    score = f"test_{task.score}"
    out = {task.primary: history[score][-1]}
    out[task.best] = max(history[score]) if task.higher_is_better else min(history[score])
    out[f"final_train_{task.score}"] = history[f"train_{task.score}"][-1]
    for name in task.eval_metrics:
        if name.startswith(("test_", "val_")) and name != score:
            out[f"final_{name}"] = history[name][-1]
    if task.validation:  # what a study selects on, leaving the test set to report once
        val = history[f"val_{task.score}"]
        out[f"best_val_{task.score}"] = max(val) if task.higher_is_better else min(val)
    return {k: exact_ratio(v, rows[split_of(k)]) if k.endswith("_acc") else float(v) for k, v in out.items()}


def split_of(summary_name: str) -> str:
    """The split a summary metric is measured on: `best_test_acc` -> test, `final_train_acc` -> train."""
    return summary_name.split("_")[1]


def diagnostics_due(eval_steps: np.ndarray, settings: Settings) -> np.ndarray:
    """Mask of the eval points that log diagnostics: every `diagnostics_every` iterations (rounded
    up to whole eval periods) and the last iteration."""
    t = settings.train
    every = math.ceil(t.diagnostics_every / t.eval_every) * t.eval_every
    return (eval_steps % every == 0) | (eval_steps == t.iterations)


def deliver(
    callbacks: Sequence[Any], records: ChunkRecords, history: dict[str, list[float]], model: Any = None
) -> int | None:
    """Hand one chunk's records to the callbacks: per eval point, then the whole chunk. A callback that
    sets `stop_training` at an eval point (a pruned trial), or sets it on the `model` as Keras callbacks do,
    cuts the chunk there; returns that iteration."""
    for k, step in enumerate(records.eval_steps):
        epoch = len(next(iter(history.values())))
        logs: dict[str, float] = {"step": int(step)}
        for name, values in records.evals.items():
            logs[name] = float(values[k])
            history[name].append(logs[name])
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if any(getattr(cb, "stop_training", False) for cb in callbacks) or getattr(model, "stop_training", False):
            cut = records.until(int(step), diagnostics=True)
            for cb in callbacks:
                if hasattr(cb, "on_chunk_end"):
                    cb.on_chunk_end(cut)
            return int(step)
    for cb in callbacks:
        if hasattr(cb, "on_chunk_end"):
            cb.on_chunk_end(records)
    return None
