"""The study's parent run and what a study run returns: the datasets checked, the expectations,
the models kept, the manifest and the parent's end (also after a store fault), for grids and searches."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field

from study.check.expectations import Outcome, as_records, evaluate
from study.check.expectations import summary as expectation_summary
from study.errors import StoreFault
from study.execution.cell import CellResult
from study.spec.document import Study
from study.spec.summary_metrics import grid_keep_metric
from study.spec.task import task_of
from study.store.connect import SERVER_GONE, retry, store_fault_text
from study.store.contract import Artifact, Tag
from study.store.reserve import free_reserve
from study.store.runs import Store

EXPECTATIONS_ARTIFACT = Artifact.EXPECTATIONS
EXIT_OK, EXIT_CELLS_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_TERMINATED = 0, 1, 2, 130, 143


@dataclass
class StudyResult:
    study: str
    parent_id: str | None
    tracking_uri: str | None
    results: list[CellResult]
    wall_time_s: float
    expectations: list[Outcome] = field(default_factory=list)  # the study's `expect:` checks
    notes: list[str] = field(default_factory=list)  # lines for the final table (a search's trials, its best)
    terminated: bool = False  # ended by SIGTERM rather than Ctrl-C

    @property
    def exit_code(self) -> int:
        if any(r.status == "killed" for r in self.results):
            return EXIT_TERMINATED if self.terminated else EXIT_INTERRUPTED
        if any(r.status == "failed" for r in self.results) or not all(o.met for o in self.expectations):
            return EXIT_CELLS_FAILED
        return EXIT_OK


def close_parent(
    store: Store, study: Study, parent: str, results: list[CellResult], wall: float, status: str
) -> list[Outcome]:
    """The parent's expectations, kept models and manifest, and its end; a store that fails meanwhile
    ends it FAILED and raises StoreFault (exit 1 once a cell was trained here, else 2)."""
    outcomes = []
    try:
        if status == "FINISHED":
            outcomes = evaluate(study, results)
            record_expectations(store, parent, outcomes)
            try:
                settle_models(store, parent, study, results)
            except Exception as exc:  # the models stay (nothing is lost); the parent must still end
                if store_fault_text(exc) is not None:
                    raise
                print(f"keeping only the best model failed, all are kept: {exc}", file=sys.stderr)
        finish_parent(store, parent, results, wall, status)
    except Exception as exc:
        text = store_fault_text(exc)
        if text is None:
            raise
        end_parent_after_fault(store, parent, text)
        trained = any(r.status in ("done", "failed") for r in results)
        raise StoreFault(text, exit_code=EXIT_CELLS_FAILED if trained else EXIT_BAD_INPUT) from None
    return outcomes


def end_parent_after_fault(store: Store, parent: str, reason: str) -> None:
    """After a store fault: the parent ends FAILED with the reason, as far as the store takes it (a
    server that is gone takes nothing: the next `study run` marks it KILLED)."""
    if reason == SERVER_GONE:
        return
    free_reserve(store.uri)
    try:
        store.set_tags(parent, {Tag.FAILURE: reason})
    except Exception:  # the status matters more than its reason
        pass
    try:
        store.end(parent, "FAILED")
    except Exception:
        pass  # left RUNNING: the next `study run` marks it KILLED


def record_expectations(store: Store, parent: str, outcomes: list[Outcome]) -> None:
    """The `expect:` checks on the parent run: `expectations.json` and the tag `study.expect`."""
    if outcomes:
        store.log_text(parent, json.dumps(as_records(outcomes), indent=1, ensure_ascii=False), EXPECTATIONS_ARTIFACT)
        store.set_tags(parent, {Tag.EXPECT: expectation_summary(outcomes)})


def settle_models(store: Store, parent: str, study: Study, results: list[CellResult]) -> None:
    """`keep_model: best` keeps only the best cell's model: its save parked beside a SQLite store is packaged
    and uploaded now and the other parked saves removed; models uploaded per cell (a tracking server) of
    this run's other trained cells are dropped (a crash before here leaves them all: nothing is lost). The
    parent's `study.best_model` names the best cell's model, and `study.best_model_metric` the metric that
    chose it."""
    keep = study.spec.tracking.keep_model
    if keep == "none":
        return
    from study.store.models import best_run, drop, model_id
    from study.store.parked import discard_parked, log_parked, parking, sweep_parked

    ran = [r for r in results if r.status in ("done", "skipped")]
    metric = keep_metric(study, [r.metrics or {} for r in ran])
    best = best_run([(r.cell.group, r.run_id, r.metrics or {}) for r in ran], metric)
    best_id = best.run_id if best else None
    best_name = next((r.cell.name for r in results if r.run_id == best_id), "")
    uri = log_parked(store.client, store.uri, best_id) if best_id and keep == "best" else None
    if keep == "best" and parking(store.uri) is not None:
        discard_parked(store.uri, [r.run_id for r in ran if r.run_id and r.run_id != best_id])
        sweep_parked(store.client, store.uri)
    elif keep == "best":
        for r in results:
            if r.status != "done" or r.run_id is None or r.run_id == best_id:
                continue
            dropped = retry(store.client.get_run, r.run_id).data.tags.get(Tag.MODEL)
            why = f"not kept (tracking.keep_model: best; the best cell is {best_name} by {metric})"
            drop(store.client, r.run_id, dropped, why)
    if uri is None and best_id:
        uri = retry(store.client.get_run, best_id).data.tags.get(Tag.MODEL)
    if uri and model_id(uri):
        store.set_tags(parent, {Tag.BEST_MODEL: uri, Tag.BEST_MODEL_METRIC: metric})


def keep_metric(study: Study, ran: list[dict[str, float]]) -> str:
    """The summary metric that picks the kept model: `tracking.keep_metric`, else the search's own metric, else
    the grid's rule (`grid_keep_metric`)."""
    search = study.spec.search
    chosen = study.spec.tracking.keep_metric or (search.metric if search is not None else None)
    if chosen is not None:
        return chosen
    return grid_keep_metric(task_of(study.base), ran)


def finish_parent(store: Store, parent: str, results: list[CellResult], wall: float, status: str) -> None:
    """The parent's manifest of cells, summary table, Description, wall time, and its end."""
    manifest = [
        {
            "name": r.cell.name,
            "group": r.cell.group,
            "config_hash": r.cell.config_hash,
            "seed": r.cell.seed,
            "run_id": r.run_id,
            "status": r.status,
            "failure": r.failure,
        }
        for r in results
    ]
    store.log_text(parent, json.dumps(manifest, indent=1, ensure_ascii=False), Artifact.MANIFEST)
    from study.store.views import describe_parent, summary_markdown

    store.log_text(
        parent, summary_markdown([(r.cell.name, r.status, r.metrics or {}) for r in results]), Artifact.SUMMARY
    )
    failed = sum(r.status == "failed" for r in results)
    store.set_tags(
        parent, {Tag.CELLS_FAILED: str(failed), Tag.CELLS_SKIPPED: str(sum(r.status == "skipped" for r in results))}
    )
    from mlflow.entities import Metric

    store.log_metrics(parent, [Metric("wall_time_s", round(wall, 3), int(time.time() * 1000), 0)])
    retry(describe_parent, store.client, parent)  # the Description the MLflow UI shows, linking the artifacts
    store.end(parent, status)
