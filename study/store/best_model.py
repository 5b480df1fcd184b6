"""A `study run`'s best kept model, found and loaded: by the rule that kept it (the parent's `study.best_model`
and `study.best_model_metric` tags), or by a summary metric the caller names among the runs that kept one."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from study.errors import StudyError
from study.spec.summary_metrics import SUMMARY_METRIC_NAMES, VALIDATION_HINT, grid_keep_metric
from study.spec.task import CLASSIFICATION, TASKS
from study.store.contract import Tag
from study.store.models import best_run, import_model_code, model_id
from study.store.reader import FINISHED

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Run

    from study.store.lookup import Target


def kept_runs(client: MlflowClient, target: Target) -> list[Run]:
    """The FINISHED cell runs of the target's parent run that hold a kept model, in grid order."""
    from study.store.reader import load_study_runs

    assert target.parent is not None
    runs = load_study_runs(client, target.experiment, target.parent, curve_metrics=()).runs
    kept = runs[(runs["status"] == FINISHED) & runs["model"].map(lambda uri: model_id(uri) is not None)]
    if kept.empty:
        raise StudyError(
            f"{target.describe()} kept no model (tracking.keep_model: none, or its models were deleted): set "
            "tracking.keep_model: best in the study file and train its cells again (`study run FILE --rerun`)"
        )
    return [client.get_run(run_id) for run_id in kept["run_id"]]


def choose(target: Target, runs: list[Run], metric: str | None) -> tuple[Run, str]:
    """The run whose model is wanted and the metric that picks it: by default the parent's kept model and the
    metric that chose it; with `metric`, the best of `runs` by that summary metric (the first on ties)."""
    if metric is None:
        assert target.parent is not None
        tags = target.parent.data.tags
        uri = tags.get(Tag.BEST_MODEL)
        run = next((r for r in runs if uri is not None and r.data.tags.get(Tag.MODEL) == uri), None)
        if run is not None:
            return run, tags.get(Tag.BEST_MODEL_METRIC) or default_metric(runs)
        metric = default_metric(runs)  # a run that ended before choosing (all its models kept)
    check_metric(target, runs, metric)
    best = best_run([(r.info.run_id, r.info.run_id, r.data.metrics) for r in runs], metric)
    assert best is not None
    return next(r for r in runs if r.info.run_id == best.run_id), metric


def default_metric(runs: list[Run]) -> str:
    """The kept-model rule of a grid (`grid_keep_metric`), for a parent that did not record its metric."""
    task = TASKS.get(runs[0].data.tags.get(Tag.TASK, CLASSIFICATION.kind), CLASSIFICATION)
    return grid_keep_metric(task, [r.data.metrics for r in runs])


def check_metric(target: Target, runs: list[Run], metric: str) -> None:
    """StudyError in one line unless `metric` is a summary metric some of the runs recorded."""
    if metric not in SUMMARY_METRIC_NAMES:
        raise StudyError(f"metric: {metric!r} is not a summary metric (valid: {', '.join(SUMMARY_METRIC_NAMES)})")
    if any(metric in r.data.metrics for r in runs):
        return
    recorded = sorted({m for r in runs for m in r.data.metrics if m in SUMMARY_METRIC_NAMES})
    if "_val_" in metric:
        raise StudyError(
            f"metric: {metric!r}: the runs of {target.describe()} held no validation set out; it needs "
            f"data.validation in the study file ({VALIDATION_HINT}) (recorded: {', '.join(recorded)})"
        )
    raise StudyError(
        f"metric: {metric!r} is not recorded by the runs of {target.describe()} (recorded: {', '.join(recorded)})"
    )


def load_model(client: MlflowClient, run: Run) -> Any:
    """The run's kept model as a Keras model, loaded from the store (TensorFlow quiet)."""
    import study.runtime.tensorflow_setup  # noqa: F401, I001 - first: TensorFlow quiet, with the package's threads

    import mlflow.artifacts
    import mlflow.keras  # imports Keras and TensorFlow: after the quiet import above

    found = model_id(run.data.tags.get(Tag.MODEL))
    assert found is not None
    local = mlflow.artifacts.download_artifacts(client.get_logged_model(found).artifact_location)
    import_model_code(local)  # a builder's model: the modules of its custom layers, from its own copy
    return mlflow.keras.load_model(local)
