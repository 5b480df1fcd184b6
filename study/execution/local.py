"""The local backend: cells, or a search's trials, one after another beside this process."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

from tqdm import tqdm

from study.check.estimate import cell_kind, duration, remaining, trained_parts
from study.engine.callbacks import EngineCallback
from study.execution.cell import CellJob, CellResult, run_cell, settle
from study.execution.contenders import Contenders
from study.execution.curve import warm_up_figures
from study.execution.curve_process import curve_drawer
from study.execution.faults import fault_point
from study.execution.trials import SearchJob, open_search, trials, used
from study.runtime.calibration import Observed, record
from study.store.models import preload as preload_model_saving
from study.store.writer import BackgroundWriter


def run_here(jobs: list[CellJob], progress: bool) -> Iterator[CellResult]:
    """Train the cells one after another in this process's training process (study.execution.trainer), with
    a per-iteration progress bar; this process writes their runs, and its drawing process
    (study.execution.curve_process) their learning curves. How long the cells took against their estimate
    corrects the next estimates on this machine (study/runtime/calibration.py)."""
    from study.execution.trainer import trainer_for

    total = sum(j.cell.settings.train.iterations for j in jobs)
    mode = jobs[0].cell.settings.train.numerics  # one mode per study (the pre-run check)
    predicted = predicted_seconds(jobs) if progress else []
    since = 0.0  # when the first cell ended (it waited for the training process to start, too)
    finished: list[CellResult] = []
    contenders = (
        Contenders.of(jobs[0].study, [job.cell for job in jobs]) if jobs else None
    )  # which runs may hold the kept model: the others skip saving it
    with tqdm(total=total, unit="it", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
        writer = BackgroundWriter()
        curves = curve_drawer()
        if curves is None:
            writer.submit(warm_up_figures)  # while the trainer still imports TensorFlow, not during the first cell
        if any(job.study.spec.tracking.keep_model != "none" for job in jobs):
            writer.submit(preload_model_saving)  # likewise: what packaging the models needs
        try:
            for k, job in enumerate(jobs, 1):
                bar.set_description(f"cell {k}/{len(jobs)}{time_left(predicted, k - 1, since)}")
                bar.set_postfix_str(job.cell.name)
                start = bar.n
                ahead = jobs[k].cell if k < len(jobs) else None
                trainer = trainer_for(mode)
                result = run_cell(
                    job,
                    writer,
                    ProgressCallback(bar),
                    trainer=trainer,
                    ahead=ahead,
                    contenders=contenders,
                    curves=curves,
                )
                finished.append(result)
                yield result
                fault_point("after-cell", k, flush=writer.flush)  # testing only (study/execution/faults.py)
                since = since or time.perf_counter()
                bar.update(start + job.cell.settings.train.iterations - bar.n)
            calibrate(jobs, finished)
        finally:
            settle(writer)


def calibrate(jobs: list[CellJob], results: list[CellResult]) -> None:
    """Record, per kind of cell, the trained cells' estimated seconds (uncorrected, in this run's order) and
    the seconds they took (`wall_time_s`): the correction of later estimates here. Never fails the run."""
    from study.data.shape import data_shape
    from study.runtime.rate import machine_rate

    try:
        cells = [job.cell for job in jobs]
        shapes = {d: data_shape(d) for d in {c.settings.data for c in cells}}
        estimated = dict(zip((c.index for c in cells), trained_parts(cells, shapes, machine_rate())))
        observed: dict[str, Observed] = {}
        for result in results:
            if result.status == "done" and "wall_time_s" in result.metrics:
                kind = cell_kind(result.cell.settings)
                seen = Observed.cell(*estimated[result.cell.index], result.metrics["wall_time_s"])
                observed[kind] = observed[kind].plus(seen) if kind in observed else seen
        if observed:
            record(observed)
    except Exception:  # noqa: BLE001, S110 - a correction of later estimates only
        pass


def predicted_seconds(jobs: list[CellJob]) -> list[float]:
    """Each cell's time as the dry run estimates it (study/check/estimate.py), for the progress bar's ETA;
    none when the estimate cannot be made (its data's headers unreadable: the cell will say so)."""
    from study.check.estimate import cell_seconds
    from study.data.shape import data_shape
    from study.runtime.calibration import calibration
    from study.runtime.rate import machine_rate

    try:
        shapes = {d: data_shape(d) for d in {j.cell.settings.data for j in jobs}}
        return cell_seconds([j.cell for j in jobs], shapes, machine_rate(), calibration())
    except Exception:  # noqa: BLE001 - an ETA only: the run itself meets any real problem
        return []


def time_left(predicted: list[float], done: int, since: float) -> str:
    """', ~3 min 20 s left' for the progress bar: the estimate, scaled by how the cells after the first (which
    also waited for the training process to start, ended at `since`) ran against it."""
    if not predicted:
        return ""
    left = remaining(predicted[1:], done - 1, time.perf_counter() - since) if since else sum(predicted[done:])
    return f", ~{duration(left)} left"


class ProgressCallback(EngineCallback):
    """Moves the progress bar as the engine finishes chunks."""

    def __init__(self, bar: tqdm):
        self.bar, self.start = bar, bar.n

    def on_chunk_end(self, records) -> None:
        if len(records.steps):
            self.bar.update(self.start + int(records.steps[-1]) - self.bar.n)


def trials_here(job: SearchJob, progress: bool) -> Iterator[CellResult]:
    """A search's trials one after another in this process, with a trials-used progress bar."""
    with trial_bar(job, progress) as bar:
        writer = BackgroundWriter()
        try:
            for number, done in trials(job, writer):
                bar.set_postfix_str(f"trial {number}: {done[-1].status if done else 'failed'}")
                bar.update(0 if done and all(r.status == "skipped" for r in done) else 1)  # a repeat: no budget
                yield from done
        finally:
            settle(writer)


def trial_bar(job: SearchJob, progress: bool) -> tqdm:
    """A progress bar over the search's budget, starting at the trials already used."""
    bar = tqdm(total=job.search.trials, unit="trial", disable=not progress, dynamic_ncols=True, file=sys.stderr)
    bar.update(used(open_search(job)))
    return bar
