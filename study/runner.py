"""Run a whole study: validate everything first, skip what is done, train the rest, isolate failures.

Order of work in `run_study`:
1. expand the grid and load the dataset — any bad input raises StudyError here, before the
   store is touched;
2. open the experiment, mark runs left RUNNING by dead processes as KILLED, look up the cells
   already FINISHED (same config hash, same dataset digest) and skip them unless `rerun`;
3. create the parent run and train the missing cells — in this process, in `workers` processes,
   or on Ray — each in its own child run; a cell that diverges or raises ends FAILED with the
   reason and the grid goes on;
4. write the parent's manifest (`cells.json`), close it and print the final table.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator

from tqdm import tqdm

from study.config import DataConfig, Study
from study.data import Dataset, load_dataset
from study.errors import ConfigError
from study.numerics import configure, default_threads, ensure
from study.expect import Outcome, as_records, check_expectations, evaluate
from study.expect import summary as expectation_summary
from study.grid import Cell, expand
from study.ui import share_runs_view
from study.tracking import BackgroundWriter, EngineCallback, MetricLogger, Store, learning_curve, retry

EXPECTATIONS_ARTIFACT = "expectations.json"
EXIT_OK, EXIT_CELLS_FAILED, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


@dataclass
class CellJob:
    """Everything a process needs to train one cell into the store (picklable)."""

    study: Study
    cell: Cell
    axes: list[str]
    experiment_id: str
    parent_id: str
    tracking_uri: str
    dataset_digest: str
    rerun: bool = False  # train even if a FINISHED run of the cell exists (live RUNNING ones still win)


@dataclass
class CellResult:
    """How one cell ended: `done`, `skipped` (already FINISHED), `failed` or `killed`."""

    cell: Cell
    status: str
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    failure: str | None = None


@dataclass
class StudyResult:
    study: str
    parent_id: str | None
    tracking_uri: str | None
    results: list[CellResult]
    wall_time_s: float
    expectations: list[Outcome] = field(default_factory=list)  # the study's `expect:` checks

    @property
    def exit_code(self) -> int:
        if any(r.status == "killed" for r in self.results):
            return EXIT_INTERRUPTED
        if any(r.status == "failed" for r in self.results) or not all(o.met for o in self.expectations):
            return EXIT_CELLS_FAILED
        return EXIT_OK


def cell_data(cell: Cell) -> Dataset:
    """The cell's dataset; cells with the same data settings share one copy."""
    return dataset_for(cell.settings.data, os.environ.get("STUDY_DATA_DIR"))


@lru_cache(maxsize=4)  # a grid rarely varies the data; four subsets cover it without hoarding memory
def dataset_for(d: DataConfig, env_dir: str | None) -> Dataset:
    """Load and scale one data setting (`env_dir`, $STUDY_DATA_DIR, is part of the cache key)."""
    return load_dataset(d.name, d.dir, d.train_size, d.test_size)


def check_cells(study: Study, cells: list[Cell]) -> str:
    """Load every dataset the grid uses (DataError early) and check batch sizes; returns the digest(s)."""
    modes = sorted({cell.settings.train.numerics for cell in cells})
    if len(modes) > 1:
        raise ConfigError(f"{study.source}: train.numerics: {' and '.join(modes)} in one study; a process sets its "
                          "numerics once, so every cell of a study must use the same (valid: exact, fast)")
    digests = set()
    for cell in cells:
        data = cell_data(cell)
        digests.add(data.digest)
        rows, batch = len(data.y_train), cell.settings.train.batch_size
        if batch > rows:
            raise ConfigError(f"{study.source}: train.batch_size: {batch} is larger than the training set "
                              f"({rows} images) of cell {cell.group!r}")
    return ",".join(sorted(digests))


def run_study(study: Study, *, rerun: bool = False, workers: int = 1, backend: str = "local",
              progress: bool = True, ray_address: str | None = None, cpus_per_cell: float = 1.0,
              parent_tags: dict[str, str] | None = None) -> StudyResult:
    """Run every missing cell of the study into the store; see the module docstring."""
    t0 = time.perf_counter()
    cells = expand(study)
    check_expectations(study, cells)
    digest = check_cells(study, cells)
    if backend == "ray":  # an unreachable cluster is bad input too: fail before the store is touched
        from study.ray_backend import connect

        connect(ray_address, cpus_per_cell)
    axes = list(study.spec.grid)
    store = Store()
    store.repoint_if_moved()  # a store sent from elsewhere writes its artifacts here, not at the old path
    exp_id = store.experiment_id(study.name, study.spec.description)
    share_runs_view(store.client, exp_id, list(cells[0].labels))
    killed = store.mark_dead_runs(exp_id)
    if killed:  # notices, not progress: printed with --quiet too
        print(f"marked {len(killed)} run(s) left RUNNING by a dead process as KILLED", file=sys.stderr)
    done = {} if rerun else store.finished_cells(exp_id, digest)
    parent = store.start_parent(exp_id, study.name, {
        "study.config_file": study.source, "study.n_cells": str(len(cells)), "study.axes": json.dumps(axes),
        "study.dataset_digest": digest, **(parent_tags or {}),
    })
    store.log_text(parent, study.text, "study.yaml")
    results = [CellResult(c, "skipped", done[c.config_hash].info.run_id, done[c.config_hash].data.metrics)
               for c in cells if c.config_hash in done]
    todo = [c for c in cells if c.config_hash not in done]
    if results:
        print(f"skipping {len(results)} cell(s) already FINISHED in the store (use --rerun to train them again)",
              file=sys.stderr)
    jobs = [CellJob(study, c, axes, exp_id, parent, store.uri, digest, rerun) for c in todo]
    status, outcomes = "FINISHED", []
    try:
        for result in execute(jobs, workers, backend, progress, ray_address, cpus_per_cell):
            results.append(result)
    except KeyboardInterrupt:
        status = "KILLED"
        ran = {r.cell.index for r in results}
        results.extend(CellResult(j.cell, "killed") for j in jobs if j.cell.index not in ran)
    finally:
        results.sort(key=lambda r: r.cell.index)
        wall = time.perf_counter() - t0
        if status == "FINISHED":
            outcomes = evaluate(study, results)
            record_expectations(store, parent, outcomes)
        finish_parent(store, parent, results, wall, status)
        if backend == "ray":  # the local instance `connect` started, also when no cell was left to run
            from study.ray_backend import disconnect

            disconnect()
    return StudyResult(study.name, parent, store.uri, results, wall, outcomes)


def record_expectations(store: Store, parent: str, outcomes: list[Outcome]) -> None:
    """The `expect:` checks on the parent run: `expectations.json` and the tag `study.expect`."""
    if outcomes:
        store.log_text(parent, json.dumps(as_records(outcomes), indent=1, ensure_ascii=False), EXPECTATIONS_ARTIFACT)
        store.set_tags(parent, {"study.expect": expectation_summary(outcomes)})


def finish_parent(store: Store, parent: str, results: list[CellResult], wall: float, status: str) -> None:
    """The parent's manifest of cells, summary table, Description, wall time, and its end."""
    manifest = [{"name": r.cell.name, "group": r.cell.group, "config_hash": r.cell.config_hash,
                 "seed": r.cell.seed, "run_id": r.run_id, "status": r.status, "failure": r.failure}
                for r in results]
    store.log_text(parent, json.dumps(manifest, indent=1, ensure_ascii=False), "cells.json")
    from study.ui import describe_parent, summary_markdown

    store.log_text(parent, summary_markdown([(r.cell.name, r.status, r.metrics or {}) for r in results]), "summary.md")
    failed = sum(r.status == "failed" for r in results)
    store.set_tags(parent, {"study.cells_failed": str(failed), "study.cells_skipped": str(sum(r.status == "skipped" for r in results))})
    from mlflow.entities import Metric

    store.log_metrics(parent, [Metric("wall_time_s", wall, int(time.time() * 1000), 0)])
    retry(describe_parent, store.client, parent)  # the Description the MLflow UI shows, linking the artifacts
    store.end(parent, status)


# --- backends ------------------------------------------------------------------------------


def execute(jobs: list[CellJob], workers: int, backend: str, progress: bool,
            ray_address: str | None, cpus_per_cell: float) -> Iterator[CellResult]:
    """Results of the jobs as they finish, from the chosen backend."""
    if not jobs:
        return iter(())
    if backend == "ray":
        from study.ray_backend import run_on_ray

        return run_on_ray(jobs, progress, ray_address, cpus_per_cell)
    if workers > 1:
        return run_in_processes(jobs, workers, progress)
    return run_here(jobs, progress)


def run_here(jobs: list[CellJob], progress: bool) -> Iterator[CellResult]:
    """Train the cells one after another in this process, with a per-iteration progress bar."""
    total = sum(j.cell.settings.train.iterations for j in jobs)
    with tqdm(total=total, unit="it", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
        writer = BackgroundWriter()
        try:
            for k, job in enumerate(jobs, 1):
                bar.set_description(f"cell {k}/{len(jobs)}")
                bar.set_postfix_str(job.cell.name)
                start = bar.n
                yield run_cell(job, writer, ProgressCallback(bar))
                bar.update(start + job.cell.settings.train.iterations - bar.n)
        finally:
            writer.flush()


def run_in_processes(jobs: list[CellJob], workers: int, progress: bool) -> Iterator[CellResult]:
    """Train cells in `workers` fresh processes; each writes its own runs to the shared store."""
    import multiprocessing

    threads = max(1, default_threads() // workers)
    mode = jobs[0].cell.settings.train.numerics  # one mode per study (check_cells)
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=init_worker, initargs=(mode, threads)) as pool, \
            tqdm(total=len(jobs), unit="cell", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
        futures = {pool.submit(run_cell_in_worker, job): job for job in jobs}
        for future in as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # the worker process died
                result = CellResult(job.cell, "failed", failure=f"worker process failed: {one_line(exc)}")
            bar.set_postfix_str(f"{job.cell.name}: {result.status}")
            bar.update(1)
            yield result


def init_worker(mode: str, threads: int) -> None:
    """Share the cores between worker processes instead of each one claiming them all (the numerics
    mode decides how a worker's threads are used; in `exact` mode its results do not depend on them)."""
    configure(mode, threads)


def run_cell_in_worker(job: CellJob) -> CellResult:
    """A worker's unit of work: train one cell with its own store client and writer."""
    writer = BackgroundWriter()
    try:
        return run_cell(job, writer)
    finally:
        writer.flush()


class ProgressCallback(EngineCallback):
    """Moves the progress bar as the engine finishes chunks."""

    def __init__(self, bar: tqdm):
        self.bar, self.start = bar, bar.n

    def on_chunk_end(self, records) -> None:
        if len(records.steps):
            self.bar.update(self.start + int(records.steps[-1]) - self.bar.n)


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and first message line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_cell(job: CellJob, writer: BackgroundWriter, *extra_callbacks) -> CellResult:
    """Train one cell into its own child run unless another process has it; failures end the run FAILED."""
    cell, store = job.cell, Store(job.tracking_uri)
    data = cell_data(cell)
    if data.digest not in job.dataset_digest.split(","):
        reason = f"dataset digest {data.digest} differs from the driver's {job.dataset_digest}"
        return CellResult(cell, "failed", failure=reason)
    claim = store.claim(job.experiment_id, cell.config_hash, data.digest)
    if claim is None:
        return CellResult(cell, "skipped", failure="being trained by another process")
    try:
        return train_cell(job, writer, store, data, extra_callbacks)
    finally:
        writer.after_writes(claim.release)  # only once the run's end status is in the store


def train_cell(job: CellJob, writer: BackgroundWriter, store: Store, data: Dataset, extra_callbacks) -> CellResult:
    """Under the cell's claim: skip it if it finished meanwhile, else train it into a new child run."""
    from study.train import Diverged, train_and_evaluate

    cell = job.cell
    busy = store.taken(job.experiment_id, cell.config_hash, data.digest, finished=not job.rerun)
    if busy:
        return CellResult(cell, "skipped", failure=busy)
    numerics = ensure(cell.settings.train.numerics)  # settled before the run exists, and recorded on it
    run_id = store.start_cell(job.experiment_id, job.parent_id, job.study.name, cell, job.axes, data.name, data.digest,
                              data.num_classes, numerics.tags())
    logger = MetricLogger(store, run_id, writer)
    try:
        summary = train_and_evaluate(cell.settings, cell.seed, data, [logger, *extra_callbacks])
    except Diverged as exc:
        return fail(store, writer, logger, cell, run_id, str(exc), exc.step)
    except KeyboardInterrupt:
        logger.send()
        writer.submit(store.set_tags, run_id, {"study.failure": "interrupted by the user"})
        writer.submit(store.end, run_id, "KILLED")
        raise
    except Exception as exc:
        traceback.print_exc(file=sys.stderr)
        return fail(store, writer, logger, cell, run_id, one_line(exc), None)
    writer.submit(store.log_text, run_id, cell_yaml(cell), "config.yaml")
    writer.submit(log_curve, store, run_id, logger.history, cell.name)
    writer.submit(store.end, run_id, "FINISHED")
    return CellResult(cell, "done", run_id, summary.metrics())


def fail(store: Store, writer: BackgroundWriter, logger: MetricLogger, cell: Cell, run_id: str,
         reason: str, step: int | None) -> CellResult:
    """End a cell's run FAILED, keeping what it logged and saying why and where."""
    logger.send()
    tags = {"study.failure": reason}
    if step is not None:
        tags["study.failure_step"] = str(step)
    writer.submit(store.set_tags, run_id, tags)
    writer.submit(store.log_text, run_id, cell_yaml(cell), "config.yaml")
    writer.submit(store.end, run_id, "FAILED")
    return CellResult(cell, "failed", run_id, failure=reason + (f" (iteration {step})" if step is not None else ""))


def log_curve(store: Store, run_id: str, history: dict, title: str) -> None:
    """Draw and store the cell's learning curve (runs on the writer thread)."""
    store.log_figure(run_id, learning_curve(history, title), "learning_curve.png")


def cell_yaml(cell: Cell) -> str:
    """The cell's fully resolved configuration, as the `config.yaml` artifact."""
    import yaml

    doc = {"cell": cell.name, "seed": cell.seed, "config_hash": cell.config_hash,
           **cell.settings.model_dump(mode="json")}
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)


# --- the final table -----------------------------------------------------------------------


def final_table(result: StudyResult) -> str:
    """Final test accuracy per cell, failures with their reason, and how to open the MLflow UI."""
    width = max(len(r.cell.name) for r in result.results)
    lines = [f"{'cell':<{width}}  {'status':<8} {'test acc':>8} {'best':>6} {'time':>7}"]
    for r in result.results:
        m = r.metrics
        acc = f"{m['final_test_acc']:8.4f} {m['best_test_acc']:6.4f} {m['wall_time_s']:6.1f}s" if m else ""
        lines.append(f"{r.cell.name:<{width}}  {r.status:<8} {acc}".rstrip())
        if r.failure:
            lines.append(f"{'':<{width}}    ↳ {r.failure}")
    failed = sum(r.status == "failed" for r in result.results)
    lines.append(f"{len(result.results)} cells, {failed} failed, {result.wall_time_s:.1f}s in all; "
                 f"parent run {result.parent_id}")
    if result.expectations:
        lines.extend(o.line() for o in result.expectations)
        lines.append(expectation_summary(result.expectations))
    lines.append(f"open the MLflow UI:  study ui {result.study}")
    return "\n".join(lines)
