"""One cell, start to end: its data, its claim, its child run, training, and how it ended."""

from __future__ import annotations

import json
import sys
import tempfile
import traceback
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from study.data.dataset import Dataset, DatasetInfo
from study.engine.records import Diverged, SavedKeras, Summary
from study.errors import StoreFault, Terminated
from study.execution.contenders import Contenders
from study.execution.curve_process import CurveDrawer, Drawing
from study.execution.datasets import data_info
from study.execution.faults import fault_point
from study.execution.interrupts import held
from study.execution.metrics import MetricLogger
from study.execution.trainer import DataSource, Job, Trainer
from study.plan.grid import Cell
from study.spec.document import Study
from study.spec.task import task_of
from study.store.connect import SERVER_GONE, store_fault_text
from study.store.contract import TRIAL_PRUNED, Artifact, Tag, numerics_tags
from study.store.inputs import log_dataset_inputs
from study.store.models import PARKED_REASON, discard, log_saved, package
from study.store.models import preload as preload_model_saving
from study.store.parked import park, parking
from study.store.reserve import free_reserve
from study.store.runs import Store, cell_params, shared_store
from study.store.system import CellMonitor, new_monitor, start_monitor, stop_monitor
from study.store.writer import BackgroundWriter


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
    source: dict[str, str] = field(default_factory=dict)  # the driver's source tags (provenance.source_tags)
    tags: dict[str, str] = field(default_factory=dict)  # extra tags of its run (a search's trial number)


@dataclass
class CellResult:
    """How one cell ended: `done`, `skipped` (already FINISHED), `failed`, `killed` or `pruned` (stopped early)."""

    cell: Cell
    status: str
    run_id: str | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    failure: str | None = None


def error_summary(exc: BaseException) -> str:
    """An exception as one line: its type and first message line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def run_cell(
    job: CellJob,
    writer: BackgroundWriter,
    *extra_callbacks,
    trainer: Trainer | None = None,
    ahead: Cell | None = None,
    contenders: Contenders | None = None,
    curves: CurveDrawer | None = None,
) -> CellResult:
    """Train one cell into its own child run unless another process has it; failures end the run FAILED.

    It trains in this process, or in `trainer` (study/execution/trainer.py), which then builds the engine of
    `ahead`, the next cell, while this one trains. `contenders`: the grid's runs so far, so that a run that
    cannot be the kept model skips saving it. `curves`: the process that draws the learning curves."""
    cell = job.cell
    data = data_info(cell, trainer)
    if data.digest not in job.dataset_digest.split(","):
        reason = f"dataset digest {data.digest} differs from the driver's {job.dataset_digest}"
        return CellResult(cell, "failed", failure=reason)
    claim = None
    try:
        store = shared_store(job.tracking_uri)
        fault_point("cell")  # testing only (study/execution/faults.py)
        claim = store.claim(job.experiment_id, cell.config_hash, data.digest)
        if claim is None:
            return CellResult(cell, "skipped", failure="being trained by another process")
        return train_cell(job, writer, store, data, extra_callbacks, Training(trainer, ahead, contenders, curves))
    except Exception as exc:
        raise_store_fault(writer, exc)
        raise
    finally:
        if claim is not None:
            writer.after_writes(claim.release)  # only once the run's end status is in the store


def raise_store_fault(writer: BackgroundWriter, exc: BaseException) -> None:
    """A store that failed under a cell (full, locked, read-only, a server gone) ends the grid: the
    runs still open end FAILED with the store's one-line reason where it takes that write (a full
    disk first gets the reserve's space back), and StoreFault says so (exit 1). Other errors return."""
    fault = store_fault_text(exc)
    if fault is None:
        return
    if "disk" in fault and "full" in fault:
        for store in {s.uri: s for s in writer.open.values()}.values():
            free_reserve(store.uri)
    writer.salvage(fault, write=fault != SERVER_GONE)  # a server that is gone takes nothing (~15 s a try)
    raise StoreFault(fault, exit_code=1) from None


def settle(writer: BackgroundWriter) -> None:
    """Wait for the writer's queue; a store fault among its writes is raised as `raise_store_fault` does."""
    try:
        writer.flush()
    except RuntimeError as exc:
        raise_store_fault(writer, exc)
        raise


@dataclass
class Training:
    """Where a cell trains: in this process, or in a training process (`trainer`), which builds the engine of
    `ahead` meanwhile; where its learning curve is drawn (`curves`, a drawing process, or the writer's thread)."""

    trainer: Trainer | None = None
    ahead: Cell | None = None
    contenders: Contenders | None = None
    curves: CurveDrawer | None = None
    started: Job | None = None  # the cell sent to the trainer ahead of its run's opening

    def curve(self, history: dict, title: str, score: str) -> Drawing:
        """The cell's learning curve, started now in the drawing process where there is one."""
        return self.curves.draw(history, title, score) if self.curves is not None else Drawing(history, title, score)

    def may_be_kept(self, cell: Cell, metrics: dict[str, float]) -> bool:
        """Whether the cell's model may be the one `keep_model: best` keeps (always, without contenders)."""
        return self.contenders is None or self.contenders.may_be_kept(cell.group, metrics)

    def numerics(self, mode: str) -> dict[str, str]:
        """The numerics the cell will train with (settled before its run exists, and recorded on it)."""
        if self.trainer is not None:
            return self.trainer.numerics()
        from study.engine.backend import ensure

        return ensure(mode).settings()

    def start(self, cell: Cell) -> None:
        """With a trainer, start training the cell now, while this process opens its run (its callback calls
        wait until `train`); in this process, nothing yet."""
        if self.trainer is not None:
            job = self.job(cell)
            self.started = job if self.trainer.start(job) else None

    def abandon(self, interrupted: bool) -> None:
        """The started cell's run could not be opened: the trainer lets it go (ends, on Ctrl-C)."""
        if self.trainer is not None and self.started is not None:
            self.started = None
            self.trainer.abandon(kill=interrupted)

    def train(self, cell: Cell, data: Dataset | DatasetInfo, callbacks: list) -> Summary:
        """The cell trained with `callbacks` (its training `start`ed, or started now). `data` is the Dataset
        here, its description with a trainer (which holds the arrays)."""
        if self.trainer is None:
            from study.engine.training_loop import train_and_evaluate

            assert isinstance(data, Dataset)  # noqa: S101 - in this process the cell has its arrays
            return train_and_evaluate(cell.settings, cell.seed, data, callbacks)
        job, self.started = self.started or self.job(cell), None  # not started ahead (or not sent): sent now
        return self.trainer.train(job, callbacks)

    def job(self, cell: Cell) -> Job:
        """What the trainer is sent for the cell: its settings, seed and data, and the next cell to build ahead."""
        ahead = None if self.ahead is None else (self.ahead.settings, DataSource.of(self.ahead.settings.data))
        return Job(cell.settings, cell.seed, DataSource.of(cell.settings.data), ahead)

    def save_keras(self, model, data: Dataset | DatasetInfo) -> SavedKeras:
        """The trained model saved by Keras where it trained (before a cached engine trains the next cell
        into the same Keras model)."""
        if self.trainer is not None:
            return self.trainer.save_model()
        from study.engine.build import save_keras

        assert isinstance(data, Dataset)  # noqa: S101 - in this process the cell has its arrays
        return save_keras(model, data.x_test, data.num_outputs)  # classes, or regression targets


def train_cell(
    job: CellJob,
    writer: BackgroundWriter,
    store: Store,
    data: Dataset | DatasetInfo,
    extra_callbacks,
    training: Training,
) -> CellResult:
    """Under the cell's claim: skip it if it finished meanwhile, else train it into a new child run."""
    cell = job.cell
    busy = store.taken(job.experiment_id, cell.config_hash, data.digest, finished=not job.rerun)
    fault_point("claimed")  # testing only (study/execution/faults.py)
    if busy:
        return CellResult(cell, "skipped", failure=busy)
    numerics = training.numerics(cell.settings.train.numerics)
    training.start(cell)  # the trainer trains while the run is opened: its calls wait to be replayed
    try:
        return open_and_train(job, writer, store, data, extra_callbacks, training, numerics)
    except BaseException as exc:
        training.abandon(interrupted=isinstance(exc, KeyboardInterrupt))  # only if never taken up
        raise


def open_and_train(
    job: CellJob,
    writer: BackgroundWriter,
    store: Store,
    data: Dataset | DatasetInfo,
    extra_callbacks,
    training: Training,
    numerics: dict[str, str],
) -> CellResult:
    """Open the cell's child run and train the cell into it."""
    cell = job.cell
    run_id = store.start_cell(
        job.experiment_id,
        job.parent_id,
        job.study.name,
        cell,
        job.axes,
        data.name,
        data.digest,
        data.num_classes,
        {**numerics_tags(numerics), **task_tags(cell), **model_tags(job, store), **job.source, **job.tags},
    )
    writer.opened(run_id, store)
    writer.submit(log_dataset_inputs, store.client, run_id, data)
    statistics = (data.info if isinstance(data, Dataset) else data).standardization
    if statistics is not None:  # data.standardize: what every split was scaled by, so a user can scale new data
        writer.submit(store.log_text, run_id, json.dumps(statistics, indent=1), Artifact.STANDARDIZATION)
    tracking = job.study.spec.tracking
    if tracking.keep_model != "none":  # packaging the model's imports (once per process; cached)
        writer.submit(preload_model_saving)
    monitor = new_monitor(tracking.system_metrics, store.uri, run_id, tracking.system_metrics_interval)
    writer.submit(start_monitor, monitor)
    try:
        return train_run(job, writer, store, data, run_id, monitor, extra_callbacks, training)
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: a run not being closed yet ends KILLED
        if run_id not in writer.ending:
            reason = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted by the user"
            writer.submit(store.set_tags, run_id, {Tag.FAILURE: reason})
            writer.after_writes(partial(stop_monitor, monitor))  # also after a failed write
            writer.end(run_id, "KILLED")
        raise
    except Exception as exc:
        if store_fault_text(exc) is not None:  # the store failed: run_cell ends the run and the grid
            writer.after_writes(partial(stop_monitor, monitor))
        raise


def train_run(
    job: CellJob,
    writer: BackgroundWriter,
    store: Store,
    data: Dataset | DatasetInfo,
    run_id: str,
    monitor: CellMonitor | None,
    extra_callbacks,
    training: Training,
) -> CellResult:
    """Train the cell into its run and queue what the run keeps; a divergence or an error ends it FAILED."""
    cell = job.cell
    logger = MetricLogger(store, run_id, writer, cell_params(cell, job.axes))
    try:
        keep = job.study.spec.tracking.keep_model
        summary = training.train(cell, data, [logger, *extra_callbacks])
    except Diverged as exc:
        return fail(store, writer, logger, monitor, cell, run_id, str(exc), exc.step)
    except KeyboardInterrupt:
        logger.send()  # the points trained so far are kept; train_cell ends the run
        raise
    except Exception as exc:
        if store_fault_text(exc) is not None:
            raise  # the store itself failed: train_cell and run_cell end the run and the grid
        traceback.print_exc(file=sys.stderr)
        return fail(store, writer, logger, monitor, cell, run_id, error_summary(exc), None)
    with held():  # a signal now waits until the run's closing writes are queued (study.execution.interrupts)
        fault_point("closing")  # testing only (study/execution/faults.py)
        pruned = any(
            getattr(cb, "stop_training", False) for cb in extra_callbacks
        )  # stopped early: not a finished cell
        parks = parks_models(job, store)  # the study's end packages the best one only
        try:
            saves = keep != "none" and not pruned and (not parks or training.may_be_kept(cell, summary.metrics()))
            saved = training.save_keras(logger.model, data) if saves else None
            if saved is not None and parks:
                park(store.uri, run_id, saved, summary.iterations)
            model_path = package(saved) if saved is not None and not parks else None
        except Exception as exc:
            if store_fault_text(exc) is not None:
                raise  # a full disk or an unusable store: the run and the grid end as for any store fault
            traceback.print_exc(file=sys.stderr)
            return fail(
                store, writer, logger, monitor, cell, run_id, f"saving the model failed: {error_summary(exc)}", None
            )
        try:
            if summary.stopped_at is not None:
                writer.submit(store.set_tags, run_id, {Tag.STOPPED_AT: str(summary.stopped_at)})
            curve = training.curve(logger.history, cell.name, task_of(cell.settings).score)
            writer.submit(log_cell_files, store, run_id, cell_yaml(cell), curve)
            if pruned:
                pruned_tags = {Tag.TRIAL_STATE: TRIAL_PRUNED, Tag.PRUNED_AT: str(summary.iterations)}
                writer.submit(store.set_tags, run_id, pruned_tags)
                writer.after_writes(partial(stop_monitor, monitor))
                writer.end(run_id, "KILLED")
                return CellResult(
                    cell, "pruned", run_id, summary.metrics(), failure=f"pruned at iteration {summary.iterations}"
                )
            if model_path is not None:
                writer.submit(log_saved, store.client, run_id, model_path, summary.iterations)
        finally:  # the local package goes once its upload ran, was skipped after a failure or was never queued
            if model_path is not None:
                writer.clean_up(discard, model_path)
        writer.after_writes(partial(stop_monitor, monitor))  # also after a failed write
        writer.end(run_id, "FINISHED")  # after the model: a FINISHED run has everything it logs
        return CellResult(cell, "done", run_id, summary.metrics())


def parks_models(job: CellJob, store: Store) -> bool:
    """Whether the cell's model is parked beside the store (study/store/parked.py) rather than uploaded:
    `keep_model: best` on a SQLite store."""
    return job.study.spec.tracking.keep_model == "best" and parking(store.uri) is not None


def model_tags(job: CellJob, store: Store) -> dict[str, str]:
    """`study.model` of a run whose model will be parked: not kept, unless the study's end finds it the best
    and replaces the tag with its `models:/` URI."""
    return {Tag.MODEL: PARKED_REASON} if parks_models(job, store) else {}


def task_tags(cell: Cell) -> dict[str, str]:
    """`study.task` on a regression cell (a run without it is classification, as every earlier run)."""
    task = task_of(cell.settings)
    return {Tag.TASK: task.kind} if task.kind != "classification" else {}


def fail(
    store: Store,
    writer: BackgroundWriter,
    logger: MetricLogger,
    monitor: CellMonitor | None,
    cell: Cell,
    run_id: str,
    reason: str,
    step: int | None,
) -> CellResult:
    """End a cell's run FAILED, keeping what it logged and saying why and where."""
    logger.send()
    tags = {Tag.FAILURE: reason}
    if step is not None:
        tags[Tag.FAILURE_STEP] = str(step)
    writer.submit(store.set_tags, run_id, tags)
    writer.submit(store.log_text, run_id, cell_yaml(cell), Artifact.CELL_CONFIG)
    writer.after_writes(partial(stop_monitor, monitor))  # also after a failed write
    writer.end(run_id, "FAILED")
    return CellResult(cell, "failed", run_id, failure=reason + (f" (iteration {step})" if step is not None else ""))


def log_cell_files(store: Store, run_id: str, config: str, curve: Drawing) -> None:
    """Store the cell's config.yaml and its learning curve in one upload: each upload costs a temporary folder
    and a look-up of the run's artifact store (~0.01 s)."""
    with tempfile.TemporaryDirectory(prefix="study-cell-") as folder:
        Path(folder, Artifact.CELL_CONFIG).write_text(config, encoding="utf-8")
        Path(folder, Artifact.LEARNING_CURVE).write_bytes(curve.png())
        store.log_files(run_id, folder)


def cell_yaml(cell: Cell) -> str:
    """The cell's fully resolved configuration, as the `config.yaml` artifact."""
    import yaml

    doc = {
        "cell": cell.name,
        "seed": cell.seed,
        "config_hash": cell.config_hash,
        **cell.settings.model_dump(mode="json"),
    }
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
