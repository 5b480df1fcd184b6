"""A cell's task, from its settings: which metrics it records, and which one ranks it, in which direction.

The one place that says it. `model.loss: cross_entropy` (the default) is classification: a
softmax output, accuracy on the training and test sets. Any other loss (mse, mae, mape, msle) is
regression: a linear output, and the mean absolute error — in the targets' own units, comparable
across a grid axis of losses — is the score, lower is better. Every task records `train_loss`
(the batch loss, penalties included) per iteration and `test_loss` (the loss on the test set) at
eval points. The engine, the metric logger, the summary and the report read their names here.

It reads a cell's settings by their shape alone (the protocols below), so the schema can check a
setting against its task (`train.early_stopping.metric`) without the two importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable


class ModelSection(Protocol):
    """What a task is read from in a model section (study.spec's ModelConfig): its loss."""

    @property
    def loss(self) -> str: ...


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


@dataclass(frozen=True)
class Task:
    """What one cell measures."""

    kind: str  # classification | regression
    loss: str  # model.loss
    score: str  # the per-split score: `acc` or `mae`
    higher_is_better: bool
    extra: tuple[str, ...] = ()  # further test-set metrics at eval points, e.g. test_mse
    validation: bool = False  # data.validation holds a split out: val_<score> and val_loss too

    @property
    def eval_metrics(self) -> tuple[str, ...]:
        """The metrics recorded at every eval point, in the engine's order."""
        val = (f"val_{self.score}", "val_loss") if self.validation else ()
        return (f"train_{self.score}", f"test_{self.score}", "test_loss", *self.extra, *val)

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


def task_of(settings: CellSettings | ModelSection) -> Task:
    """The task of a cell's settings (or of its model section: without the validation metrics)."""
    if isinstance(settings, CellSettings):
        model, validation = settings.model, settings.data.validation is not None
    else:
        model, validation = settings, False
    if model.loss == "cross_entropy":
        return replace(CLASSIFICATION, validation=validation)
    return Task("regression", model.loss, REGRESSION.score, False, REGRESSION.extra, validation)


def task_of_columns(columns) -> Task:
    """The task whose primary summary metric is among a table's columns (classification by default)."""
    task = next((task for task in TASKS.values() if task.primary in columns), CLASSIFICATION)
    return replace(task, validation=f"final_val_{task.score}" in columns)
