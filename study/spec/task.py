"""A cell's task, from its settings: which metrics it records, and which one ranks it, in which direction.

The one place that says it. `model.loss: cross_entropy` (the default) is classification: a
softmax output, accuracy on the training and test sets. Any other loss of the study's (mse, mae, mape,
msle) is regression: a linear output, and the mean absolute error — in the targets' own units, comparable
across a grid axis of losses — is the score, lower is better. Your own loss (a `module:function`
reference) says its task in `model.task`. Every task records `train_loss` (the batch loss, penalties
included) per iteration and `test_loss` (the loss on the test set) at eval points, and each of your own
`train.metrics` on every split it evaluates (`train_<name>`, `test_<name>`, `val_<name>`). The engine, the
metric logger, the summary and the report read their names here.

It reads a cell's settings by their shape alone (the protocols below), so the schema can check a
setting against its task (`train.early_stopping.metric`) without the two importing each other.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol, get_args, runtime_checkable

TaskKind = Literal["classification", "regression"]
TASK_KINDS: tuple[str, ...] = get_args(TaskKind)

RESERVED_METRIC_NAMES = ("acc", "loss", "mae", "mse")
"""The tasks' own per-split names: one of your `train.metrics` named so would be recorded twice."""


class ModelSection(Protocol):
    """What a task is read from in a model section (study.spec's ModelConfig): its loss, and the task of your
    own loss."""

    @property
    def loss(self) -> str: ...

    @property
    def task(self) -> str | None: ...


class TrainSection(Protocol):
    """What a task is read from in a train section (study.spec's TrainConfig): your own metrics."""

    @property
    def metrics(self) -> Sequence[str]: ...


class DataSection(Protocol):
    """What a task is read from in a data section (study.spec's DataConfig): its validation split."""

    @property
    def validation(self) -> object: ...


@runtime_checkable
class CellSettings(Protocol):
    """A cell's settings (study.spec's Settings): a model section and a data section."""

    @property
    def model(self) -> ModelSection: ...

    @property
    def data(self) -> DataSection: ...

    @property
    def train(self) -> TrainSection: ...


@dataclass(frozen=True)
class Task:
    """What one cell measures."""

    kind: str  # classification | regression
    loss: str  # model.loss
    score: str  # the per-split score: `acc` or `mae`
    higher_is_better: bool
    extra: tuple[str, ...] = ()  # further test-set metrics at eval points, e.g. test_mse
    validation: bool = False  # data.validation holds a split out: val_<score> and val_loss too
    metrics: tuple[str, ...] = ()  # the names of your own train.metrics, recorded on every split

    @property
    def splits(self) -> tuple[str, ...]:
        """The splits evaluated at every eval point."""
        return ("train", "test", "val") if self.validation else ("train", "test")

    @property
    def builtin_eval_metrics(self) -> tuple[str, ...]:
        """The task's own metrics at every eval point, in the engine's order."""
        val = (f"val_{self.score}", "val_loss") if self.validation else ()
        return (f"train_{self.score}", f"test_{self.score}", "test_loss", *self.extra, *val)

    @property
    def own_eval_metrics(self) -> tuple[str, ...]:
        """Your own metrics at every eval point, split by split: train_<name>…, test_<name>…, val_<name>…"""
        return tuple(f"{split}_{name}" for split in self.splits for name in self.metrics)

    @property
    def eval_metrics(self) -> tuple[str, ...]:
        """The metrics recorded at every eval point, in the engine's order."""
        return (*self.builtin_eval_metrics, *self.own_eval_metrics)

    @property
    def own_summary_metrics(self) -> tuple[str, ...]:
        """Your own metrics' final values on the test (and validation) set: final_test_<name>, …"""
        return tuple(f"final_{m}" for m in self.own_eval_metrics if not m.startswith("train_"))

    @property
    def primary(self) -> str:
        """The summary metric that ranks cells: `final_test_acc`, `final_test_mae`."""
        return f"final_test_{self.score}"

    @property
    def ranking(self) -> str:
        """The summary metric cells are ranked and compared by: the final validation score when there is one."""
        return f"final_val_{self.score}" if self.validation else self.primary

    @property
    def best(self) -> str:
        """The best value of the test score over the eval points (max for accuracy, min for an error)."""
        return f"best_test_{self.score}"

    @property
    def summary_metrics(self) -> tuple[str, ...]:
        """The cell's summary metrics, without wall_time_s."""
        finals = tuple(
            f"final_{m}" for m in self.eval_metrics if m.startswith(("test_", "val_")) and m != f"test_{self.score}"
        )
        best_val = (f"best_val_{self.score}",) if self.validation else ()
        return (self.primary, self.best, f"final_train_{self.score}", *finals, *best_val)

    def better(self, a: float, b: float) -> bool:
        """Whether score `a` is better than `b`."""
        return a > b if self.higher_is_better else a < b

    @property
    def score_name(self) -> str:
        """The score in words, for reports: `accuracy`, `MAE`."""
        return "accuracy" if self.score == "acc" else self.score.upper()

    @property
    def score_abbrev(self) -> str:
        """The score in a table header: `acc`, `MAE`."""
        return "acc" if self.score == "acc" else self.score.upper()


CLASSIFICATION = Task("classification", "cross_entropy", "acc", higher_is_better=True)
REGRESSION = Task("regression", "mse", "mae", higher_is_better=False, extra=("test_mse",))
TASKS = {task.kind: task for task in (CLASSIFICATION, REGRESSION)}
"""By kind: what a stored run's tag `study.task` names (no tag: classification, as every earlier run).
The metric names do not depend on the regression loss, so a grid axis of losses compares alike."""


def builtin_task_kind(loss: str) -> str | None:
    """The task one of the study's losses decides (cross_entropy: classification, the others: regression);
    None for your own loss (a `module:function` reference), whose task is model.task."""
    if ":" in loss:
        return None
    return "classification" if loss == "cross_entropy" else "regression"


def metric_name(ref: str) -> str:
    """The name your own metric is recorded under: its function's (`metrics.py:top2` → train_top2, test_top2)."""
    return ref.rpartition(":")[2]


def task_of(settings: CellSettings | ModelSection) -> Task:
    """The task of a cell's settings (or of its model section: without the validation and your own metrics)."""
    if isinstance(settings, CellSettings):
        model, validation = settings.model, settings.data.validation is not None
        metrics = tuple(metric_name(ref) for ref in settings.train.metrics)
    else:
        model, validation, metrics = settings, False, ()
    kind = builtin_task_kind(model.loss) or model.task or CLASSIFICATION.kind
    if kind == "classification":
        return replace(CLASSIFICATION, loss=model.loss, validation=validation, metrics=metrics)
    return Task("regression", model.loss, REGRESSION.score, False, REGRESSION.extra, validation, metrics)


def task_of_columns(columns: Collection[str]) -> Task:
    """The task whose primary summary metric is among a table's columns (classification by default), with your
    own metrics found by their `final_test_<name>` columns."""
    task = next((task for task in TASKS.values() if task.primary in columns), CLASSIFICATION)
    return replace(task, validation=f"final_val_{task.score}" in columns, metrics=own_metrics_of(columns))


def own_metrics_of(names: Collection[str]) -> tuple[str, ...]:
    """Your own metrics among summary metric names or columns: each `final_test_<name>` not a task's own."""
    found = (n.removeprefix("final_test_") for n in names if n.startswith("final_test_"))
    return tuple(sorted(n for n in found if n not in RESERVED_METRIC_NAMES))
