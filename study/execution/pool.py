"""The process-pool backend: cells, or a search's trials, in `workers` fresh processes on this machine."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, as_completed, wait

from tqdm import tqdm

from study.errors import StoreFault
from study.execution.cell import CellJob, CellResult, error_summary, run_cell, settle
from study.execution.local import trial_bar
from study.execution.trials import SearchJob, open_search, trials_in_worker, used
from study.runtime.numerics import default_threads
from study.store.writer import BackgroundWriter

POLL_S = 1.0  # how often the driver reads a search's trial count while worker processes run


def run_in_processes(jobs: list[CellJob], workers: int, progress: bool) -> Iterator[CellResult]:
    """Train cells in `workers` fresh processes; each writes its own runs to the shared store."""
    mode = jobs[0].cell.settings.train.numerics  # one mode per study (the pre-run check)
    with (
        worker_pool(workers, mode) as pool,
        tqdm(total=len(jobs), unit="cell", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar,
    ):
        futures = {pool.submit(run_cell_in_worker, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except StoreFault as exc:  # the store failed under the worker: its run ended as run_cell says
                result = CellResult(job.cell, "failed", failure=str(exc))
            except Exception as exc:  # the worker process died
                result = CellResult(job.cell, "failed", failure=f"worker process failed: {error_summary(exc)}")
            bar.set_postfix_str(f"{job.cell.name}: {result.status}")
            bar.update(1)
            yield result


def trials_in_processes(job: SearchJob, workers: int, progress: bool) -> Iterator[CellResult]:
    """`workers` fresh processes, each asking the shared Optuna storage for trials until the budget is used."""
    with worker_pool(workers, job.study.base.train.numerics) as pool, trial_bar(job, progress) as bar:
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
                print(f"a search worker process failed: {error_summary(exc)}", file=sys.stderr)


def worker_pool(workers: int, mode: str) -> ProcessPoolExecutor:
    """`workers` spawned processes sharing this machine's threads between them."""
    import multiprocessing

    threads = max(1, default_threads() // workers)
    ctx = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=(mode, threads))


def init_worker(mode: str, threads: int) -> None:
    """Share the cores between worker processes instead of each one claiming them all (the numerics
    mode decides how a worker's threads are used; in `exact` mode its results do not depend on them)."""
    from study.engine.backend import configure

    configure(mode, threads)


def run_cell_in_worker(job: CellJob) -> CellResult:
    """A worker's unit of work: train one cell with its own store client and writer."""
    writer = BackgroundWriter()
    try:
        return run_cell(job, writer)
    finally:
        settle(writer)
