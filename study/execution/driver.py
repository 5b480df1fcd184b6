"""`study run`: one driver for grids and searches — check everything, skip what is done, train the rest.

Order of work in `run_study`, the same for a grid's cells and a search's trials:
1. `check` the whole study and load its datasets: any bad input raises StudyError here, before the
   store is touched;
2. open the experiment, mark runs left RUNNING by dead processes as KILLED and resume what is there
   (a grid's FINISHED cells are skipped unless `rerun`; a search's Optuna study is reopened); when nothing
   is left to train and a parent run already lists every cell, return that: no run is opened, and no
   training process started (a quick look at the store decides that before anything else);
3. create the parent run and train the rest — in this process, in `workers` processes or on Ray —
   each cell in its own child run; a cell that diverges or raises ends FAILED and the study goes on;
4. write the parent's manifest, close it and return what ran (`final_table` prints it).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from contextlib import closing
from typing import TYPE_CHECKING

from study.check.expectations import evaluate
from study.check.expectations import summary as expectation_summary
from study.check.study_plan import check
from study.errors import ConfigError, StoreFault, Terminated
from study.execution.datasets import dataset_digest
from study.execution.interrupts import deliver
from study.execution.options import RunOptions
from study.plan.grid import cells_count
from study.spec.document import Study
from study.spec.task import task_of_columns
from study.store.contract import Artifact, Tag

if TYPE_CHECKING:
    from study.check.expectations import Outcome
    from study.check.study_plan import Plan
    from study.execution.cell import CellResult
    from study.execution.grid_work import GridWork
    from study.execution.parent import StudyResult
    from study.execution.search_work import SearchWork

# MLflow (the store, the cells' runs) is imported inside `run_study`, once the training process has
# been started: importing it first would hold the trainer's start back by a second.

RUN_MODULES = ("study.execution.grid_work", "study.execution.parent", "study.store.runs")  # what a run needs next


def run_study(study: Study, options: RunOptions | None = None) -> StudyResult:
    """Run every missing cell (or trial) of the study into the store; see the module docstring."""
    options = options or RunOptions()
    t0 = time.perf_counter()
    refuse_rerun_of_search(study, options)
    plan = check(study)
    trainer, imports = None, None
    if options.in_this_process and not plan.is_search and not may_be_done(plan, options):
        # TensorFlow, data, first engine while the store opens (a study that may be done starts none)
        from study.execution.trainer import trainer_for

        trainer = trainer_for(plan.cells[0].settings.train.numerics, plan.cells)
        imports = import_in_background(*RUN_MODULES)
    digest = dataset_digest(study, plan.cells, trainer)  # a broken data file is refused at once, nothing written
    if imports is not None:
        imports.join()
    work = work_for(plan, options)
    from study.execution.parent import StudyResult, end_parent_after_fault
    from study.store.provenance import requirements_text, source_tags
    from study.store.runs import open_for_run
    from study.store.views import share_runs_view

    work.check_home(options.tracking_uri)
    if options.backend == "ray":  # an unreachable cluster is bad input too: fail before the store is touched
        from study.execution.code_identity import builder_refs, ray_runtime_env
        from study.execution.ray_backend import connect

        connect(options.ray_address, options.cpus_per_cell, ray_runtime_env(builder_refs(plan.cells)))
    store = open_for_run(options.tracking_uri)  # the input is valid: check the store, say where the runs go
    exp_id = store.experiment_id(study.name, study.spec.description)
    work.before_writing(store, exp_id, digest)
    share_runs_view(store.client, exp_id, work.axes)
    killed = store.mark_dead_runs(exp_id)
    if killed:  # notices, not progress: printed with --quiet too
        print(f"marked {len(killed)} run(s) left RUNNING by a dead process as KILLED", file=sys.stderr)
    work.resume(store, exp_id, digest)
    done = None if options.rerun else work.finished_parent(store, exp_id, digest)
    if done is not None:
        return nothing_to_train(work, store.uri, done, options, time.perf_counter() - t0)
    source = source_tags()  # resolved here once: a worker process's own program is not the source
    tags = {
        **source,
        Tag.CONFIG_FILE: study.source,
        Tag.N_CELLS: str(work.n_cells),
        Tag.AXES: json.dumps(work.axes),
        Tag.DATASET_DIGEST: digest,
        **work.parent_tags(),
        **options.parent_tags,
    }
    parent = store.start_parent(exp_id, study.name, tags)
    store.log_text(parent, study.text, Artifact.STUDY_FILE)
    store.log_text(parent, requirements_text(), Artifact.REQUIREMENTS)
    work.start(store, exp_id, parent, digest, source)
    results: list[CellResult] = list(work.skipped)
    status, fault, terminated = "FINISHED", None, False
    outcomes: list[Outcome] = []
    try:
        with closing(work.execute()) as executed:  # closed here: its writes are flushed before the parent ends
            for result in executed:
                results.append(result)
                deliver()  # a signal that came while this cell's run was being closed
        deliver()
    except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (errors.Terminated)
        status, terminated = "KILLED", isinstance(exc, Terminated)
        results.extend(work.interrupted(results))
    except StoreFault as exc:  # the cell that was being written ended FAILED where the store took it
        status, fault = "FAILED", exc
    finally:
        results.sort(key=lambda r: r.cell.index)
        wall = time.perf_counter() - t0
        try:
            if fault is not None:
                end_parent_after_fault(store, parent, str(fault))
            else:
                results, outcomes = work.close(store, parent, results, wall, status)
        finally:
            if options.backend == "ray":  # the local instance `connect` started, also when nothing was left to run
                from study.execution.ray_backend import disconnect

                disconnect()
    if fault is not None:
        raise fault
    return StudyResult(study.name, parent, store.uri, results, wall, outcomes, work.notes(), terminated)


def refuse_rerun_of_search(study: Study, options: RunOptions) -> None:
    """A search continues its trials: --rerun has nothing to mean there."""
    if options.rerun and study.spec.search is not None:
        raise ConfigError(
            f"{study.source}: --rerun: a search continues its trials; raise search.trials to run more, "
            "or change search.seed to start another search"
        )


def may_be_done(plan: Plan, options: RunOptions) -> bool:
    """Whether every cell may already be FINISHED in the store (a quick look: then no training process is
    started before the store has answered)."""
    from study.store.connect import default_tracking_uri
    from study.store.finished import may_all_be_finished

    uri = options.tracking_uri or default_tracking_uri()
    return not options.rerun and may_all_be_finished(uri, plan.study.name, [c.config_hash for c in plan.cells])


def nothing_to_train(
    work: GridWork | SearchWork, uri: str, parent: str, options: RunOptions, wall: float
) -> StudyResult:
    """Every cell (or the search's budget) is FINISHED on this data and `parent` lists them: no run is
    opened, the final table comes from the store."""
    from study.execution.parent import StudyResult

    if options.backend == "ray":  # the local instance `connect` started
        from study.execution.ray_backend import disconnect

        disconnect()
    print(f"nothing to train: {work.done_text(uri, parent)}", file=sys.stderr)
    results = sorted(work.skipped, key=lambda r: r.cell.index)
    outcomes = evaluate(work.study, results) if not work.plan.is_search else []
    return StudyResult(work.study.name, parent, uri, results, wall, outcomes, work.notes())


def work_for(plan: Plan, options: RunOptions) -> GridWork | SearchWork:
    """The grid's cells, or the search's trials (Optuna imported only for a search)."""
    if plan.is_search:
        from study.execution.search_work import SearchWork

        return SearchWork(plan, options)
    if plan.study.spec.adaptive is not None:
        from study.execution.rounds import RoundsWork

        return RoundsWork(plan, options)
    from study.execution.grid_work import GridWork

    return GridWork(plan, options)


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
