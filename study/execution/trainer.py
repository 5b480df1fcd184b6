"""A training process: the cells of a `study run` trained beside the driver, which keeps the store.

TensorFlow's import and MLflow's (with its store) are both Python work, and in one process they take
turns under one GIL: importing them on two threads takes longer than one after the other. So the driver
starts this process first thing. It loads the data, imports TensorFlow and builds and traces the first
cell's engine, while the driver imports MLflow, opens the store and creates the study's runs on the
other core. The trainer then trains the cells the driver sends one after another. It sends back every
callback call the engine makes (the chunks' records, the eval points, the summary), and the driver
replays them on the cell's own callbacks (the MetricLogger, the progress bar), so what is logged is what
the engine in the driver's own process would have handed over. The driver also keeps the MLflow writer's
Python work off the training process.

The trainer writes nothing to the store. It keeps its engines and graphs from one study to the next
(one per driver process and numerics mode). It dies with the driver (PR_SET_PDEATHSIG on Linux, and
everywhere a thread watching its parent with psutil, within PARENT_POLL_S) and ignores Ctrl-C, which
the driver handles. This module is the driver's side of it.
"""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from study.data.dataset import DatasetInfo
from study.engine.records import SavedKeras, Summary, deliver
from study.execution.child_process import start_child
from study.plan.grid import Cell
from study.spec.data import DataConfig
from study.spec.settings import Settings
from study.spec.task import task_of

ENVIRONMENT = ("STUDY_DATA_DIR", "KERAS_HOME", "HOME")  # what data loading reads from the environment


class TrainingProcessDied(RuntimeError):
    """The training process ended while a cell trained (killed, out of memory, crashed)."""


class RemoteError(RuntimeError):
    """An error raised in the training process whose own exception could not be sent back (a subclass
    named as the original is raised in its place)."""


class RemoteTraceback(Exception):
    """The training process's traceback, as the cause of the error it sent (shown by `print_exc`)."""

    def __str__(self) -> str:
        return "\n" + self.args[0]


@dataclass(frozen=True)
class Job:
    """One cell to train: its settings and seed, where its data comes from, and the next cell to build ahead."""

    settings: Settings
    seed: int
    data: DataSource
    ahead: tuple[Settings, DataSource] | None = None


@dataclass(frozen=True)
class DataSource:
    """A cell's data as the driver sees it: the data settings, the environment and the working directory
    that resolve them (the trainer outlives a test's or a notebook's changes to either)."""

    config: DataConfig
    environment: tuple[tuple[str, str | None], ...]
    cwd: str

    @classmethod
    def of(cls, config: DataConfig) -> DataSource:
        return cls(config, tuple((name, os.environ.get(name)) for name in ENVIRONMENT), os.getcwd())


# --- the driver's side --------------------------------------------------------------------------


class Trainer:
    """The driver's handle on one training process."""

    def __init__(
        self, mode: str, first: tuple[Settings, DataSource] | None = None, sources: tuple[DataSource, ...] = ()
    ):
        self.process, self.conn = start_child("study.execution.trainer_main")
        self.mode = mode
        self.conn.send((mode, os.getpid(), first, sources))  # buffered by the socket: read when it starts
        self._numerics: dict[str, str] | None = None
        self._datasets: dict[DataSource, tuple] = {}  # source -> ("info", DatasetInfo) or ("error", exc, text)
        self._asked: set[DataSource] = set(sources)  # loaded at start-up, described as they are
        self._started: Job | None = None  # a cell sent by `start`, not yet taken up by `train`

    def alive(self) -> bool:
        return self.process.poll() is None and not self.conn.closed

    def warm(self, settings: Settings, source: DataSource) -> None:
        """Build and trace the engine of `settings` now, before it is asked to train (the first cell)."""
        self.conn.send(("warm", settings, source))

    def describe(self, sources) -> None:
        """Have the trainer load these datasets and describe them (`dataset`), unless it was asked already."""
        for source in sources:
            if source not in self._asked:
                self._asked.add(source)
                self.conn.send(("describe", source))

    def dataset(self, source: DataSource) -> DatasetInfo:
        """The dataset as the trainer loaded it, without its arrays (they stay in the trainer); its load's
        error (a DataError: bad input) is raised here."""
        self.describe([source])
        while source not in self._datasets:
            self._file(self._receive())
        kind, *payload = self._datasets[source]
        if kind == "error":
            raise rebuilt(*payload)
        return payload[0]

    def numerics(self) -> dict[str, str]:
        """The numerics the trainer runs with (study.runtime.numerics.Numerics.settings); waits for its start-up."""
        while self._numerics is None:
            self._file(self._receive())
        return self._numerics

    def _file(self, message) -> tuple | None:
        """Keep a start-up message (numerics, a dataset's description) where it belongs; return any other."""
        kind = message[0]
        if kind == "numerics":
            self._numerics = message[1]
        elif kind == "dataset":
            self._datasets[message[1]] = message[2]
        elif kind == "start-failed":
            raise rebuilt(*message[1])
        else:
            return message
        return None

    def _next(self) -> tuple:
        """The next message of the cell being trained or saved (start-up messages are filed meanwhile)."""
        while True:
            message = self._file(self._receive())
            if message is not None:
                return message

    def start(self, job: Job) -> bool:
        """Send a cell to train now: its callback calls wait in the socket until `train(job, …)` replays them
        (meanwhile the driver opens the cell's run). False if it could not be sent (the process is gone):
        `train` then meets that where a cell's errors are handled."""
        try:
            self.conn.send(("train", job))
        except (OSError, ValueError):
            return False
        self._started = job
        return True

    def abandon(self, kill: bool = False) -> None:
        """The cell `start`ed is not wanted after all (its run could not be opened): stopped at its next eval
        point and its messages let go; with `kill` (Ctrl-C), or if that fails, the process is ended."""
        if self._started is None:
            return
        self._started = None
        if not kill:
            try:
                self._cancel()
                return
            except (TrainingProcessDied, OSError):
                pass
        self.close(kill=True)

    def train(self, job: Job, callbacks) -> Summary:
        """Train one cell in the trainer (sent now, unless `start`ed), replaying the engine's callback calls on
        `callbacks` here."""
        if self._started is not job:
            self.conn.send(("train", job))
        self._started = None
        try:
            return self._replay(callbacks, task_of(job.settings).eval_metrics)
        except KeyboardInterrupt:
            self.close(kill=True)  # mid-cell: the driver ends the run KILLED; a later study starts a new trainer
            raise
        except TrainingProcessDied:
            self.close(kill=True)
            raise

    def save_model(self) -> SavedKeras:
        """The model just trained, saved by Keras in the trainer (study/engine/build.py `save_keras`)."""
        self.conn.send(("save",))
        kind, payload = self._next()
        if kind == "error":
            raise rebuilt(*payload)
        return payload

    def _replay(self, callbacks, eval_metrics) -> Summary:
        history: dict[str, list[float]] = {name: [] for name in eval_metrics}
        while True:
            kind, payload = self._next()
            if kind == "call":
                name, args = payload
                try:
                    if name == "on_chunk_end":  # its eval points first, as the engine hands them out
                        deliver(callbacks, args[0], history)
                    else:
                        for cb in callbacks:
                            getattr(cb, name)(*args)
                except BaseException:
                    try:
                        self._cancel()
                    except (TrainingProcessDied, OSError):  # the trainer is gone as well: a new one next time
                        self.close(kill=True)
                    raise
            elif kind == "summary":
                return payload
            elif kind == "error":
                raise rebuilt(*payload)

    def _cancel(self) -> None:
        """A callback here failed: stop the cell at its next eval point and let its remaining messages go."""
        self.conn.send(("cancel",))
        while self._next()[0] not in ("summary", "error"):
            pass

    def _receive(self):
        try:
            return self.conn.recv()
        except (EOFError, OSError):
            try:
                code = self.process.wait(5)
            except subprocess.TimeoutExpired:
                code = None
            raise TrainingProcessDied(f"the training process ended unexpectedly (exit code {code})") from None

    def close(self, kill: bool = False) -> None:
        """End the process: at once with `kill`, else once it has finished what it was sent."""
        try:
            if not kill and self.alive():
                self.conn.send(("stop",))
                self.process.wait(10)
        except (OSError, subprocess.TimeoutExpired):
            pass
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)
        self.conn.close()


_trainer: Trainer | None = None
_lock = threading.Lock()


def in_memory_builders() -> bool:
    """Whether a model.builder function without a module file was handed to study.run in this process."""
    from study.spec.builder import has_registered

    return has_registered()


def trainer_for(mode: str, cells: Sequence[Cell] = ()) -> Trainer | None:
    """This process's trainer for a numerics mode: the running one when it is alive and in that mode,
    else a new one. `cells`: a study's cells, whose datasets it loads and describes at once and whose
    first engine it builds. None where a socket cannot be handed to a child process (Windows): the
    cells then train in this process."""
    global _trainer
    if os.name != "posix" or in_memory_builders():  # a notebook's own function: only this process can call it
        return None
    ahead = (cells[0].settings, DataSource.of(cells[0].settings.data)) if cells else None
    sources = tuple(dict.fromkeys(DataSource.of(c.settings.data) for c in cells))
    with _lock:
        if _trainer is not None and (_trainer.mode != mode or not _trainer.alive()):
            _trainer.close(kill=not _trainer.alive())
            _trainer = None
        if _trainer is None:
            _trainer = Trainer(mode, ahead, sources)
        else:
            _trainer.describe(sources)
            if ahead is not None:
                _trainer.warm(*ahead)
        return _trainer


def rebuilt(exc, text: str) -> BaseException:
    """The exception `sendable` sent, with the trainer's traceback as its cause."""
    if isinstance(exc, tuple):
        name, message = exc
        exc = type(name, (RemoteError,), {})(message)
    exc.__cause__ = RemoteTraceback(text)
    return exc
