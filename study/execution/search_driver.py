"""`study run` of a search study: the same order of work as a grid (study/execution/driver.py), with trials.

1. read the space, resolve a first point, load the dataset: bad input raises before the store is touched;
2. open the experiment and the search's Optuna study (optuna.db beside mlflow.db), mark dead runs KILLED,
   settle the trials dead processes left RUNNING (study/execution/trials.py `recover`);
3. create the parent run and run trials until the budget is used: in this process, in `workers`
   processes, or as Ray tasks, every one asking the shared Optuna storage;
4. write the parent's manifest (every trial's cells, earlier invocations' included) and close it.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from pathlib import Path

from tqdm import tqdm

from study.check.preflight import preflight
from study.errors import ConfigError, StudyError
from study.execution.cell import CellResult, one_line, settle
from study.execution.datasets import check_cells
from study.execution.parent import StudyResult, finish_parent, settle_models
from study.execution.trials import (
    SPEC_ATTR,
    SearchJob,
    earlier_results,
    open_search,
    recover,
    search_spec,
    trial_summary,
    trials,
    trials_in_worker,
    used,
)
from study.plan.space import axis_keys, probe_cells, search_identity, search_space
from study.spec import Study
from study.store.connect import default_tracking_uri
from study.store.contract import ROLE_PARENT, Artifact, Tag, tag_is
from study.store.provenance import requirements_text, source_tags
from study.store.runs import Store, open_for_run
from study.store.search_home import has_study, is_server, search_home
from study.store.views import share_runs_view
from study.store.writer import BackgroundWriter

POLL_S = 1.0  # how often the driver reads the trial count while worker processes run


def run_search_study(
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
    """Run the search's missing trials into the store; see the module docstring."""
    t0 = time.perf_counter()
    if rerun:
        raise ConfigError(
            f"{study.source}: --rerun: a search continues its trials; raise search.trials to run more, "
            "or change search.seed to start another search"
        )
    params = search_space(study)
    corners = probe_cells(study, params)
    preflight(study, corners)  # shapes, sizes, settings that take effect: before any run exists
    digest = check_cells(study, corners)
    uri = tracking_uri or default_tracking_uri()
    home = search_home(uri, study_folder(study))  # a store that can hold no search: refused before writing
    if backend == "ray":
        from study.execution.ray_backend import connect

        connect(ray_address, cpus_per_cell)
    store = open_for_run(uri)
    exp_id = store.experiment_id(study.name, study.spec.description)
    name = f"{study.name}-{search_identity(study, digest)}"
    check_started_here(store, exp_id, home, name)  # before anything is written to the experiment
    share_runs_view(store.client, exp_id, [p.name for p in params])
    killed = store.mark_dead_runs(exp_id)
    if killed:
        print(f"marked {len(killed)} run(s) left RUNNING by a dead process as KILLED", file=sys.stderr)
    source = source_tags()  # resolved here once: a worker process's own program is not the source
    job = SearchJob(study, axis_keys(params), exp_id, "", store.uri, digest, name, source, str(home))
    ostudy = open_search(job)
    ostudy.set_user_attr(SPEC_ATTR, search_spec(study))  # what the report says the search was
    told, queued = recover(job, ostudy, store)
    if told or queued:
        print(
            f"search: {told} trial(s) left RUNNING by a dead process finished from their runs, {queued} queued again",
            file=sys.stderr,
        )
    search = job.search
    tags = {
        **source,
        Tag.CONFIG_FILE: study.source,
        Tag.N_CELLS: str((search.trials or 0) * len(study.spec.seed_list)),
        Tag.AXES: json.dumps(job.axes),
        Tag.DATASET_DIGEST: digest,
        Tag.SEARCH: job.name,
        **(parent_tags or {}),
    }
    job.parent_id = store.start_parent(exp_id, study.name, tags)
    store.log_text(job.parent_id, study.text, Artifact.STUDY_FILE)
    store.log_text(job.parent_id, requirements_text(), Artifact.REQUIREMENTS)
    results: list[CellResult] = []
    status = "FINISHED"
    try:
        for result in execute(job, workers, backend, progress, ray_address, cpus_per_cell):
            results.append(result)
    except KeyboardInterrupt:
        status = "KILLED"
    finally:
        if status == "FINISHED":
            recover(job, ostudy, store)  # what a crashed worker left RUNNING is queued for the next run
        everything = sorted(results + earlier_results(job, ostudy, store, results), key=lambda r: r.cell.index)
        wall = time.perf_counter() - t0
        if status == "FINISHED":
            settle_models(store, job.parent_id, study.spec.tracking.keep_model, results)
        finish_parent(store, job.parent_id, everything, wall, status)
        if backend == "ray":
            from study.execution.ray_backend import disconnect

            disconnect()
    return StudyResult(study.name, job.parent_id, store.uri, everything, wall, notes=trial_summary(job, ostudy))


def study_folder(study: Study) -> Path | None:
    """The folder of the study file (its project holds a tracking server's searches), when it is a file."""
    path = Path(study.source)
    return path.parent if path.is_file() else None


def check_started_here(store: Store, exp_id: str, home: Path, name: str) -> None:
    """On a tracking server, refuse a search whose parent runs are there but whose Optuna study is not in this
    project: it was started from another project or machine, and continuing here would train a second budget."""
    if not is_server(store.uri) or has_study(home, name):
        return
    query = f"{tag_is(Tag.ROLE, ROLE_PARENT)} and {tag_is(Tag.SEARCH, name)}"
    if store.runs(exp_id, query):
        raise StudyError(
            f"search {name}: its runs are on {store.uri} but its Optuna study is not in {home}; it was started "
            f"from another project or machine: continue it there, or copy that project's {home.name} folder here"
        )


def execute(
    job: SearchJob, workers: int, backend: str, progress: bool, ray_address: str | None, cpus_per_cell: float
) -> Iterator[CellResult]:
    """The cells' results of the trials run now, from the chosen backend."""
    if backend == "ray":
        from study.execution.ray_backend import run_search_on_ray

        return run_search_on_ray(job, workers, progress, ray_address, cpus_per_cell)
    if workers > 1:
        return trials_in_processes(job, workers, progress)
    return trials_here(job, progress)


def trials_here(job: SearchJob, progress: bool) -> Iterator[CellResult]:
    """Trials one after another in this process, with a trials-used progress bar."""
    with trial_bar(job, progress) as bar:
        writer = BackgroundWriter()
        try:
            for number, done in trials(job, writer):
                bar.set_postfix_str(f"trial {number}: {done[-1].status if done else 'failed'}")
                bar.update(0 if done and all(r.status == "skipped" for r in done) else 1)  # a repeat: no budget
                yield from done
        finally:
            settle(writer)


def trials_in_processes(job: SearchJob, workers: int, progress: bool) -> Iterator[CellResult]:
    """`workers` fresh processes, each asking the shared Optuna storage for trials until the budget is used."""
    import multiprocessing

    from study.execution.local import init_worker
    from study.runtime.numerics import default_threads

    threads = max(1, default_threads() // workers)
    ctx = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(
            workers, mp_context=ctx, initializer=init_worker, initargs=(job.study.base.train.numerics, threads)
        ) as pool,
        trial_bar(job, progress) as bar,
    ):
        futures = [pool.submit(trials_in_worker, job) for _ in range(workers)]
        ostudy = open_search(job)
        pending = set(futures)
        while pending:
            _, pending = wait(pending, timeout=POLL_S, return_when=FIRST_EXCEPTION)
            bar.update(used(ostudy) - bar.n)
        for future in futures:
            try:
                yield from future.result()
            except Exception as exc:  # the worker process died: its trial is settled by `recover`
                print(f"a search worker process failed: {one_line(exc)}", file=sys.stderr)


def trial_bar(job: SearchJob, progress: bool) -> tqdm:
    """A progress bar over the budget, starting at the trials already used."""
    bar = tqdm(total=job.search.trials, unit="trial", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    bar.update(used(open_search(job)))
    return bar
