"""The summary metrics a study file may name (`search.metric`, `tracking.keep_metric`, `expect:`): every
task's, validation ones included, which way each is better, and why a cell does not record one."""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Literal

from study.spec.task import CLASSIFICATION, REGRESSION, CellSettings, Task, task_of

VALIDATED_TASKS = (replace(CLASSIFICATION, validation=True), replace(REGRESSION, validation=True))
"""Each task with a validation set held out: every metric a cell of that task may record."""

SUMMARY_METRIC_NAMES: tuple[str, ...] = tuple(
    dict.fromkeys(m for task in VALIDATED_TASKS for m in task.summary_metrics)
)
"""Classification's (final_test_acc, …, best_val_acc), then regression's (final_test_mae, …, best_val_mae)."""

if TYPE_CHECKING:
    SummaryMetric = str
else:  # the choices of a setting that names a summary metric, read from the tasks
    SummaryMetric = Literal[SUMMARY_METRIC_NAMES]

VALIDATION_HINT = "e.g. `data: {validation: {size: 1000}}`, docs/datasets.md"


def higher_is_better(metric: str) -> bool:
    """Whether a larger value is better: accuracy yes; a loss or an error (mae, mse) no."""
    return metric.rsplit("_", 1)[-1] == CLASSIFICATION.score


def goal(metric: str) -> str:
    """The direction a search or a choice of the best run goes for this metric: maximize or minimize."""
    return "maximize" if higher_is_better(metric) else "minimize"


def metric_problem(metric: str, settings: CellSettings) -> str | None:
    """Why a cell with these settings records no summary metric of this name (the text after the name in an
    error line), None when it does: a validation metric needs `data.validation`."""
    task = task_of(settings)
    if metric in task.summary_metrics:
        return None
    if metric in replace(task, validation=True).summary_metrics:
        return f"needs data.validation, a validation set held out of the training data ({VALIDATION_HINT})"
    return f"is not a metric of this study's cells (valid: {', '.join(task.summary_metrics)})"


def grid_keep_metric(task: Task, recorded: Sequence[Container[str]]) -> str:
    """The metric a grid's kept model is chosen by: the final validation score when every run recorded one
    (the honest choice: the test set then only reports), else the final test score."""
    on_validation = f"final_val_{task.score}"
    return on_validation if recorded and all(on_validation in metrics for metrics in recorded) else task.primary
