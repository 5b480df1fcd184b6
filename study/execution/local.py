"""Where cells run on this machine: one after another in this process, or in a pool of worker processes."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed

from tqdm import tqdm

from study.engine.callbacks import EngineCallback
from study.errors import StoreFault
from study.execution.cell import CellJob, CellResult, one_line, run_cell, settle
from study.execution.curve import warm_up_figures
from study.runtime.numerics import default_threads
from study.store.models import preload as preload_model_saving
from study.store.writer import BackgroundWriter


def run_here(jobs: list[CellJob], progress: bool) -> Iterator[CellResult]:
    """Train the cells one after another in this process's training process (study/execution/trainer.py), with a
    per-iteration progress bar; this process writes their runs."""
    from study.execution.trainer import trainer_for

    total = sum(j.cell.settings.train.iterations for j in jobs)
    mode = jobs[0].cell.settings.train.numerics  # one mode per study (check_cells)
    with tqdm(total=total, unit="it", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
        writer = BackgroundWriter()
        writer.submit(warm_up_figures)  # while the trainer still imports TensorFlow, not during the first cell
        if any(job.study.spec.tracking.keep_model != "none" for job in jobs):
            writer.submit(preload_model_saving)  # likewise: what packaging the models needs
        try:
            for k, job in enumerate(jobs, 1):
                bar.set_description(f"cell {k}/{len(jobs)}")
                bar.set_postfix_str(job.cell.name)
                start = bar.n
                ahead = jobs[k].cell if k < len(jobs) else None
                yield run_cell(job, writer, ProgressCallback(bar), trainer=trainer_for(mode), ahead=ahead)
                bar.update(start + job.cell.settings.train.iterations - bar.n)
        finally:
            settle(writer)


def run_in_processes(jobs: list[CellJob], workers: int, progress: bool) -> Iterator[CellResult]:
    """Train cells in `workers` fresh processes; each writes its own runs to the shared store."""
    import multiprocessing

    threads = max(1, default_threads() // workers)
    mode = jobs[0].cell.settings.train.numerics  # one mode per study (check_cells)
    ctx = multiprocessing.get_context("spawn")
    with (
        ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=(mode, threads)) as pool,
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
                result = CellResult(job.cell, "failed", failure=f"worker process failed: {one_line(exc)}")
            bar.set_postfix_str(f"{job.cell.name}: {result.status}")
            bar.update(1)
            yield result


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


class ProgressCallback(EngineCallback):
    """Moves the progress bar as the engine finishes chunks."""

    def __init__(self, bar: tqdm):
        self.bar, self.start = bar, bar.n

    def on_chunk_end(self, records) -> None:
        if len(records.steps):
            self.bar.update(self.start + int(records.steps[-1]) - self.bar.n)
