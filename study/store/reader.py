"""Read one `study run` back from the MLflow store into tidy DataFrames: the store's read model.

The cells of a parent run are the runs its `cells.json` manifest lists (without one, the runs nested
under it). Pure reading: no statistics, nothing drawn or written."""

from __future__ import annotations

import fnmatch
import functools
import json
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from study.errors import StudyError
from study.spec.summary_metrics import SUMMARY_METRIC_NAMES, VALIDATED_TASKS
from study.spec.task import CLASSIFICATION, TASKS, Task, own_metrics_of
from study.store.bulk_runs import runs_by_id
from study.store.claims import CLAIM_PREFIX
from study.store.contract import ROLE_PARENT, Artifact, Tag, tag_is
from study.store.histories import metric_histories
from study.store.run_record import RunRecord

if TYPE_CHECKING:  # MLflow is imported where a store is read, not where what was read is used
    from mlflow import MlflowClient
    from mlflow.entities import Experiment, Run

    AnyRun = Run | RunRecord  # a run as MLflow's client returns it, or as read in bulk

CURVE_METRICS = ("train_loss", *dict.fromkeys(m for task in VALIDATED_TASKS for m in task.eval_metrics))
"""Metric histories read per run; fnmatch patterns such as `grad_norm/*` are allowed."""

# Per-layer diagnostic histories the report reads (study/engine/diagnostics.py); runs without them have none.
DIAGNOSTIC_CURVES = ("grad_norm/*", "act_saturated/*", "act_dead/*")

SUMMARY_METRICS = (*SUMMARY_METRIC_NAMES, "wall_time_s")
DEFAULT_N_CLASSES = 10  # a run's dataset without a `study.n_classes` tag

FINISHED = "FINISHED"
DEFAULT_EXPERIMENT = "Default"  # the experiment MLflow makes in every store; never a study
_IDS_PER_SEARCH = 100  # run ids per `run_id IN (...)` filter, keeps the filter string short


@dataclass(frozen=True)
class Axis:
    """One varying setting of the grid: its short name (tag `axis.<short>`), dotted key and levels."""

    short: str
    key: str
    levels: tuple[str, ...]

    @property
    def column(self) -> str:
        """Column holding this axis' value in the runs and summary DataFrames."""
        return f"axis.{self.short}"

    @property
    def is_batch_norm(self) -> bool:
        """Whether this axis switches batch normalisation (its key ends with `batch_norm`)."""
        return self.key.endswith("batch_norm") or self.short.endswith("batch_norm")

    def value_of(self, run: AnyRun) -> str | None:
        """This axis' value in one run: the `axis.<short>` tag, else the param of that key."""
        return run.data.tags.get(f"axis.{self.short}", run.data.params.get(self.key))


@dataclass
class StudyRuns:
    """Everything read for one parent run: its cell runs (one row per cell × seed) and their curves."""

    study: str
    description: str
    parent: RunRecord  # the parent run, as read
    runs: pd.DataFrame
    curves: pd.DataFrame
    axes: list[Axis]
    fixed: dict[str, str]
    cells: list[str]
    unrun: list[dict]
    datasets: list[tuple[str, str]]
    versions: dict[str, str]
    n_classes: int
    task: Task = CLASSIFICATION  # study/spec/task.py, from the runs' `study.task` tag

    def curve(self, metric: str) -> pd.DataFrame:
        """The long-format rows (run_id, cell, seed, metric, step, value) of one metric."""
        return self.curves[self.curves["metric"] == metric]

    @property
    def wall_time_s(self) -> float:
        """The invocation's wall time: the parent's `wall_time_s`, else the extent of its runs."""
        logged = self.parent.data.metrics.get("wall_time_s")
        if logged is not None:
            return float(logged)
        return (self.runs["end_time"].max() - self.runs["start_time"].min()).total_seconds()


def study_experiments(client: MlflowClient) -> list[Experiment]:
    """The store's experiments that are studies: all but MLflow's own `Default` experiment and a
    tracking server's cell claims (hidden once made; one whose claimer died at once may show)."""
    return [
        e
        for e in client.search_experiments()
        if e.name != DEFAULT_EXPERIMENT and not e.name.startswith(CLAIM_PREFIX + "/")
    ]


def find_experiment(client: MlflowClient, name: str) -> Experiment:
    """Return the study's experiment, or raise a StudyError naming the studies that exist."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None and experiment.lifecycle_stage == "active":
        return experiment
    names = sorted(e.name for e in study_experiments(client))
    raise StudyError(f"no study named {name!r} in the MLflow store; studies: {', '.join(names) or 'none yet'}")


def find_parent(client: MlflowClient, experiment: Experiment, parent_run_id: str | None = None) -> Run:
    """Return the given parent run of the study, or its latest one; StudyError when there is none."""
    if parent_run_id is None:
        latest = client.search_runs(
            [experiment.experiment_id],
            filter_string=tag_is(Tag.ROLE, ROLE_PARENT),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not latest:
            raise StudyError(f"study {experiment.name!r} has no runs yet; start one with `study run`")
        return latest[0]
    matches = client.search_runs(
        [experiment.experiment_id], filter_string=f"attributes.run_id = '{_quote(parent_run_id)}'"
    )
    if not matches or matches[0].data.tags.get(Tag.ROLE) != ROLE_PARENT:
        raise StudyError(f"no `study run` with id {parent_run_id!r} in study {experiment.name!r}")
    return matches[0]


def load_study_runs(
    client: MlflowClient,
    experiment: Experiment,
    parent: Run,
    curve_metrics: Sequence[str] = CURVE_METRICS,
    own_curves: bool = False,
) -> StudyRuns:
    """Read a parent run's cell runs, their settings and metric histories (`own_curves`: your own
    train.metrics' histories too); StudyError without a finished cell."""
    manifest = read_manifest(client, parent.info.run_id)
    unrun: list[dict] = []
    children: list[AnyRun]
    if manifest is None:
        children = list(_nested_runs(client, experiment, parent))
    else:
        children, unrun = _manifest_runs(client, experiment, manifest)
    if not any(run.info.status == FINISHED for run in children):
        raise StudyError(f"run {parent.info.run_id} of study {experiment.name!r} has no finished cells yet")
    wanted = wanted_histories(children, curve_metrics, own_curves)
    description = experiment.tags.get(Tag.NOTE, "")
    return study_runs(experiment.name, description, parent, children, unrun, metric_histories(client, wanted))


def wanted_histories(
    children: Sequence[AnyRun], curve_metrics: Sequence[str], own_curves: bool
) -> dict[str, list[str]]:
    """Per run, the metrics whose histories are read: those matching `curve_metrics` (and with `own_curves`
    your own train.metrics' on every split) among the metrics it logged."""
    patterns = (*curve_metrics, *_own_eval_metrics(children)) if own_curves else curve_metrics
    return {run.info.run_id: _matching(run.data.metrics, patterns) for run in children}


def in_manifest_order(manifest: list[dict], found: Mapping[str, AnyRun]) -> tuple[list[AnyRun], list[dict]]:
    """The manifest's runs that were found, in manifest (grid) order, and its entries without a readable run."""
    ids = manifest_ids(manifest)
    return [found[i] for i in ids if i in found], [e for e in manifest if e.get("run_id") not in found]


def manifest_ids(manifest: list[dict]) -> list[str]:
    """The run ids a manifest lists, once each, in its order."""
    return list(dict.fromkeys(entry["run_id"] for entry in manifest if entry.get("run_id")))


def study_runs(
    study: str,
    description: str,
    parent: AnyRun,
    children: Sequence[AnyRun],
    unrun: list[dict],
    histories: pd.DataFrame,
) -> StudyRuns:
    """The StudyRuns of cell runs already read and their metric histories (study/store/histories.py columns)."""
    axes, task = _axes(children), _task(children)
    runs = _runs_frame(children, axes, task.own_summary_metrics)
    return StudyRuns(
        study=study,
        description=description,
        parent=RunRecord.of(parent),
        runs=runs,
        curves=_curves(histories, runs),
        axes=axes,
        fixed=_fixed_settings(children, axes),
        cells=list(dict.fromkeys(runs["cell"])),
        unrun=unrun,
        datasets=list(dict.fromkeys(zip(runs["dataset"], runs["dataset_digest"]))),
        versions=_versions(parent, children),
        n_classes=_n_classes(children),
        task=task,
    )


def read_manifest(client: MlflowClient, parent_run_id: str) -> list[dict] | None:
    """The parent's `cells.json` entries, or None when the parent has no manifest."""
    return read_json_artifact(client, parent_run_id, Artifact.MANIFEST)


def read_json_artifact(client: MlflowClient, run_id: str, name: str):
    """A JSON artifact at the run's top level (`cells.json`, `expectations.json`, …), or None without it."""
    if name not in {a.path for a in client.list_artifacts(run_id)}:
        return None
    return json.loads(read_text_artifact(client, run_id, name))


def read_text_artifact(client: MlflowClient, run_id: str, path: str) -> str:
    """A run's text artifact (downloaded to a temporary directory); MLflow's or the OS's error when absent."""
    with tempfile.TemporaryDirectory() as tmp:
        return Path(client.download_artifacts(run_id, path, tmp)).read_text(encoding="utf-8")


def _quote(text: str) -> str:
    """Escape a value for a single-quoted MLflow search filter."""
    return text.replace("\\", "\\\\").replace("'", "\\'")


def _nested_runs(client: MlflowClient, experiment: Experiment, parent: Run) -> list[Run]:
    """The runs nested under the parent, oldest first (the fallback without a manifest)."""
    return _search_all(
        client, experiment, f"tags.`mlflow.parentRunId` = '{_quote(parent.info.run_id)}'", ["attributes.start_time ASC"]
    )


def _manifest_runs(
    client: MlflowClient, experiment: Experiment, manifest: list[dict]
) -> tuple[list[AnyRun], list[dict]]:
    """The manifest's runs in manifest (grid) order, and its entries that have no readable run."""
    ids = manifest_ids(manifest)
    bulk = runs_by_id(client, experiment.experiment_id, ids)  # a SQLite store, in bulk
    found: dict[str, AnyRun] = dict(bulk) if bulk is not None else dict(_searched_runs(client, experiment, ids))
    return in_manifest_order(manifest, found)


def _searched_runs(client: MlflowClient, experiment: Experiment, ids: list[str]) -> dict[str, Run]:
    """The runs with these ids, by id, through MLflow's search (any store)."""
    found: dict[str, Run] = {}
    for start in range(0, len(ids), _IDS_PER_SEARCH):
        chunk = ", ".join(f"'{_quote(i)}'" for i in ids[start : start + _IDS_PER_SEARCH])
        found |= {r.info.run_id: r for r in _search_all(client, experiment, f"attributes.run_id IN ({chunk})")}
    return found


def _search_all(client: MlflowClient, experiment: Experiment, filter_string: str, order_by=None) -> list[Run]:
    """All runs of the experiment matching a filter, across result pages."""
    runs: list[Run] = []
    token = None
    while True:
        page = client.search_runs(
            [experiment.experiment_id], filter_string, order_by=order_by, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _axes(children: Sequence[AnyRun]) -> list[Axis]:
    """The varying axes: from the `axis.<short>` tags, else the dotted params whose values differ."""
    shorts = list(
        dict.fromkeys(k[len(Tag.AXIS) :] for run in children for k in run.data.tags if k.startswith(Tag.AXIS))
    )
    if shorts:
        dotted = json.loads(next((r.data.tags[Tag.AXES] for r in children if Tag.AXES in r.data.tags), "[]"))
        keys = {short: next((d for d in dotted if d == short or d.endswith(f".{short}")), short) for short in shorts}
    else:
        params = sorted({k for run in children for k in run.data.params if "." in k and not k.endswith("seed")})
        keys = {k: k for k in params if len({run.data.params.get(k) for run in children}) > 1}
    axes = [Axis(short, key, ()) for short, key in keys.items()]
    return [Axis(a.short, a.key, _levels(a.value_of(run) for run in children)) for a in axes]


def _levels(values: Iterable[str | None]) -> tuple[str, ...]:
    """Distinct values in order of first appearance, missing ones left out."""
    return tuple(dict.fromkeys(v for v in values if v is not None))


def _runs_frame(children: Sequence[AnyRun], axes: list[Axis], own: tuple[str, ...] = ()) -> pd.DataFrame:
    """One row per run: identity, status, axis values, summary metrics (`own`: your own metrics' too),
    failure, times and params."""
    frame = pd.DataFrame([_run_row(run, axes, own) for run in children])
    frame["start_time"] = pd.to_datetime(frame["start_time"], unit="ms")  # at once: per run it took 1 ms
    frame["end_time"] = pd.to_datetime(frame["end_time"], unit="ms")
    untimed = frame["wall_time_s"].isna() & frame["end_time"].notna()
    frame.loc[untimed, "wall_time_s"] = (frame["end_time"] - frame["start_time"])[untimed].dt.total_seconds()
    return frame.astype({"seed": "Int64", "failure_step": "Int64", "stopped_at": "Int64"})


def _run_row(run: AnyRun, axes: list[Axis], own: tuple[str, ...] = ()) -> dict:
    """The runs-frame row of one run (params under `params.<name>`; times in ms since the epoch)."""
    tags, metrics, info = run.data.tags, run.data.metrics, run.info
    row = {
        "run_id": info.run_id,
        "cell": tags.get(Tag.CELL, info.run_name),
        "seed": _int_or_none(tags.get(Tag.SEED)),
        "status": info.status,
        **{axis.column: axis.value_of(run) for axis in axes},
        **{name: metrics.get(name, np.nan) for name in (*SUMMARY_METRICS, *own)},
        "failure": tags.get(Tag.FAILURE),
        "failure_step": _int_or_none(tags.get(Tag.FAILURE_STEP)),
        "stopped_at": _int_or_none(tags.get(Tag.STOPPED_AT)),  # where train.early_stopping ended the run
        "config_hash": tags.get(Tag.CONFIG_HASH),
        "dataset": tags.get(Tag.DATASET, ""),
        "dataset_digest": tags.get(Tag.DATASET_DIGEST, ""),
        "layer_activations": tags.get(Tag.LAYER_ACTIVATIONS),  # JSON, recorded from the built model
        "model": tags.get(Tag.MODEL),  # models:/<id> of the kept model, or why none is kept
        "start_time": info.start_time,
        "end_time": info.end_time or None,
        **{f"params.{k}": v for k, v in sorted(run.data.params.items())},
    }
    return row


def _int_or_none(text: str | None) -> int | None:
    """An integer tag value, None when absent."""
    return None if text is None else int(text)


def _fixed_settings(children: Sequence[AnyRun], axes: list[Axis]) -> dict[str, str]:
    """The dotted params that have one and the same value in every run, unset ones ('None') left out."""
    varying = {a.key for a in axes}
    keys = sorted({k for run in children for k in run.data.params if "." in k} - varying)
    values = {k: {run.data.params.get(k) for run in children} for k in keys}
    return {k: str(v.pop()) for k, v in values.items() if len(v) == 1 and not v & {None, "None"}}


def _versions(parent: AnyRun, children: Sequence[AnyRun]) -> dict[str, str]:
    """Package versions from the `study.versions.<pkg>` tags of the parent, else of the first run."""
    prefix = Tag.VERSIONS
    for tags in (parent.data.tags, *(run.data.tags for run in children[:1])):
        found = {k[len(prefix) :]: v for k, v in sorted(tags.items()) if k.startswith(prefix)}
        if found:
            return found
    return {}


def _n_classes(children: Sequence[AnyRun]) -> int:
    """The dataset's number of classes from the (proposed) `study.n_classes` tag, else 10."""
    values = {run.data.tags[Tag.N_CLASSES] for run in children if Tag.N_CLASSES in run.data.tags}
    return int(values.pop()) if len(values) == 1 else DEFAULT_N_CLASSES


def _task(children: Sequence[AnyRun]) -> Task:
    """The runs' task (tag `study.task`; runs without it are classification), with your own metrics they
    recorded (train.metrics: each `final_test_<name>`)."""
    kinds = {run.data.tags.get(Tag.TASK, CLASSIFICATION.kind) for run in children}
    if len(kinds) > 1:
        raise StudyError(f"the study's runs mix tasks ({', '.join(sorted(kinds))}): their metrics do not compare")
    task = TASKS.get(kinds.pop(), CLASSIFICATION)
    validated = any(f"final_val_{task.score}" in run.data.metrics for run in children)
    own = own_metrics_of({name for run in children for name in run.data.metrics if name.startswith("final_test_")})
    return replace(task, validation=validated, metrics=own)


def _own_eval_metrics(children: Sequence[AnyRun]) -> tuple[str, ...]:
    """The names of your own metrics' histories on every split (train_/test_/val_<name>), for the metrics
    the runs recorded."""
    own = own_metrics_of({name for run in children for name in run.data.metrics if name.startswith("final_test_")})
    return replace(CLASSIFICATION, validation=True, metrics=own).own_eval_metrics


def _curves(histories: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Long-format histories (run_id, cell, seed, metric, step, value), a step logged twice by its last value."""
    curves = histories.sort_values(["run_id", "metric", "step", "timestamp"], kind="stable")
    curves = curves.drop_duplicates(["run_id", "metric", "step"], keep="last")
    curves = curves.merge(runs[["run_id", "cell", "seed"]], on="run_id")
    return curves[["run_id", "cell", "seed", "metric", "step", "value"]].reset_index(drop=True)


def _matching(keys: Iterable[str], patterns: Sequence[str]) -> list[str]:
    """The metric names matching any pattern, in pattern order."""
    return _matching_set(frozenset(keys), tuple(patterns))


@functools.lru_cache(maxsize=64)
def _matching_set(keys: frozenset[str], patterns: tuple[str, ...]) -> list[str]:
    """`_matching`, once per set of keys: the runs of a study mostly share one."""
    return list(dict.fromkeys(k for p in patterns for k in sorted(keys) if fnmatch.fnmatchcase(k, p)))
