"""Run a whole study: validate everything first, skip what is done, train the rest, isolate failures.

Order of work in `run_study`:
1. expand the grid, check the whole study (study/check/preflight.py: shapes, sizes, settings that
   take effect) and load the dataset — any bad input raises StudyError here, before the store is
   touched;
2. open the experiment, mark runs left RUNNING by dead processes as KILLED, look up the cells
   already FINISHED (same config hash, same dataset digest) and skip them unless `rerun`;
3. create the parent run and train the missing cells — in this process, in `workers` processes,
   or on Ray — each in its own child run; a cell that diverges or raises ends FAILED with the
   reason and the grid goes on;
4. write the parent's manifest (`cells.json`), close it and print the final table.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from study.check.expectations import check_expectations
from study.check.expectations import summary as expectation_summary
from study.check.preflight import preflight
from study.errors import StoreFault
from study.execution.datasets import check_cells
from study.execution.trainer import trainer_for
from study.plan.grid import cells_count, expand
from study.spec import Study
from study.spec.task import task_of_columns
from study.store.contract import Artifact, Tag
from study.store.provenance import requirements_text, source_tags
from study.store.views import share_runs_view

if TYPE_CHECKING:
    from study.execution.cell import CellJob, CellResult
    from study.execution.parent import StudyResult

# MLflow (the store, the cells' runs) is imported inside `run_study`, once the training process has
# been started: importing it first would hold the trainer's start back by a second.


RUN_MODULES = (
    "study.execution.cell",
    "study.execution.parent",
    "study.store.runs",
)  # what a run needs next: MLflow's client


def import_in_background(*modules: str) -> threading.Thread:
    """Import `modules` on a thread, while this one waits for the training process's description of the
    data (~0.7 s of MLflow's imports off the start). Join it before importing any of them here: no
    module is then imported by two threads at once."""
    import importlib

    def work() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # noqa: BLE001, S110 - this thread's import only saves time: the main thread's raises
                return

    thread = threading.Thread(target=work, name="run-imports", daemon=True)
    thread.start()
    return thread


def run_study(
    study: Study,
    *,
    rerun: bool = False,
    workers: int = 1,
    backend: str = "local",
    progress: bool = True,
    ray_address: str | None = None,
    cpus_per_cell: float = 1.0,
    parent_tags: dict[str, str] | None = None,
    tracking_uri: str | None = None,
) -> StudyResult:
    """Run every missing cell of the study into the store (default: the CLI's); see the module docstring."""
    if study.spec.search is not None:  # sampled trials instead of the grid: study/execution/search_driver.py
        from study.execution.search_driver import run_search_study

        return run_search_study(
            study,
            rerun=rerun,
            workers=workers,
            backend=backend,
            progress=progress,
            ray_address=ray_address,
            cpus_per_cell=cpus_per_cell,
            parent_tags=parent_tags,
            tracking_uri=tracking_uri,
        )
    t0 = time.perf_counter()
    cells = expand(study)
    check_expectations(study, cells)
    preflight(study, cells)  # shapes, sizes, settings that take effect: before any run exists
    trainer, imports = None, None
    if backend == "local" and workers == 1:  # TensorFlow, the data and the first engine there while the store opens
        trainer = trainer_for(cells[0].settings.train.numerics, cells)
        imports = import_in_background(*RUN_MODULES)
    digest = check_cells(study, cells, trainer)  # a broken data file is refused at once, nothing yet written
    if imports is not None:
        imports.join()
    from study.execution.cell import CellJob, CellResult
    from study.execution.parent import StudyResult, close_parent, end_parent_after_fault
    from study.store.models import remove_orphans
    from study.store.runs import open_for_run

    if backend == "ray":  # an unreachable cluster is bad input too: fail before the store is touched
        from study.execution.ray_backend import connect

        connect(ray_address, cpus_per_cell)
    axes = list(study.spec.grid)
    store = open_for_run(tracking_uri)  # the input is valid: check the store, say where the runs go
    exp_id = store.experiment_id(study.name, study.spec.description)
    share_runs_view(store.client, exp_id, list(cells[0].labels))
    killed = store.mark_dead_runs(exp_id)
    remove_orphans()  # and the temporary model folders a killed process left
    if killed:  # notices, not progress: printed with --quiet too
        print(f"marked {len(killed)} run(s) left RUNNING by a dead process as KILLED", file=sys.stderr)
    done = {} if rerun else store.finished_cells(exp_id, digest)
    source = source_tags()  # resolved here once: a worker process's own program is not the source
    parent = store.start_parent(
        exp_id,
        study.name,
        {
            **source,
            Tag.CONFIG_FILE: study.source,
            Tag.N_CELLS: str(len(cells)),
            Tag.AXES: json.dumps(axes),
            Tag.DATASET_DIGEST: digest,
            **(parent_tags or {}),
        },
    )
    store.log_text(parent, study.text, Artifact.STUDY_FILE)
    store.log_text(parent, requirements_text(), Artifact.REQUIREMENTS)
    results = [
        CellResult(c, "skipped", done[c.config_hash].info.run_id, done[c.config_hash].data.metrics)
        for c in cells
        if c.config_hash in done
    ]
    todo = [c for c in cells if c.config_hash not in done]
    if results:
        print(
            f"skipping {len(results)} cell(s) already FINISHED in the store (use --rerun to train them again)",
            file=sys.stderr,
        )
    jobs = [CellJob(study, c, axes, exp_id, parent, store.uri, digest, rerun, source) for c in todo]
    status, outcomes, fault = "FINISHED", [], None
    try:
        for result in execute(jobs, workers, backend, progress, ray_address, cpus_per_cell):
            results.append(result)
    except KeyboardInterrupt:
        status = "KILLED"
        ran = {r.cell.index for r in results}
        results.extend(CellResult(j.cell, "killed") for j in jobs if j.cell.index not in ran)
    except StoreFault as exc:  # the cell that was being written ended FAILED where the store took it
        status, fault = "FAILED", exc
    finally:
        results.sort(key=lambda r: r.cell.index)
        wall = time.perf_counter() - t0
        try:
            if fault is not None:
                end_parent_after_fault(store, parent, str(fault))
            else:
                outcomes = close_parent(store, study, parent, results, wall, status)
        finally:
            if backend == "ray":  # the local instance `connect` started, also when no cell was left to run
                from study.execution.ray_backend import disconnect

                disconnect()
    if fault is not None:
        raise fault
    return StudyResult(study.name, parent, store.uri, results, wall, outcomes)


# --- backends ------------------------------------------------------------------------------


def execute(
    jobs: list[CellJob], workers: int, backend: str, progress: bool, ray_address: str | None, cpus_per_cell: float
) -> Iterator[CellResult]:
    """Results of the jobs as they finish, from the chosen backend."""
    from study.execution.local import run_here, run_in_processes

    if not jobs:
        return iter(())
    if backend == "ray":
        from study.execution.ray_backend import run_on_ray

        return run_on_ray(jobs, progress, ray_address, cpus_per_cell)
    if workers > 1:
        return run_in_processes(jobs, workers, progress)
    return run_here(jobs, progress)


# --- the final table -----------------------------------------------------------------------


def final_table(result: StudyResult) -> str:
    """Final test score per cell (accuracy; a regression study's MAE), failures with their reason, and how
    to open the MLflow UI."""
    width = max(len(r.cell.name) for r in result.results)
    task = task_of_columns({k for r in result.results for k in r.metrics})
    lines = [f"{'cell':<{width}}  {'status':<8} {'test ' + task.score_abbrev:>8} {'best':>6} {'time':>7}"]
    for r in result.results:
        m = r.metrics
        acc = f"{m[task.primary]:8.4f} {m[task.best]:6.4f} {m['wall_time_s']:6.1f}s" if m else ""
        lines.append(f"{r.cell.name:<{width}}  {r.status:<8} {acc}".rstrip())
        if r.failure:
            lines.append(f"{'':<{width}}    ↳ {r.failure}")
    failed = sum(r.status == "failed" for r in result.results)
    lines.append(
        f"{cells_count([r.cell for r in result.results])}, {failed} failed, {result.wall_time_s:.1f}s in all; "
        f"parent run {result.parent_id}"
    )
    lines.extend(result.notes)
    if result.expectations:
        lines.extend(o.line() for o in result.expectations)
        lines.append(expectation_summary(result.expectations))
    lines.append(f"open the MLflow UI:  study ui {result.study}")
    return "\n".join(lines)
