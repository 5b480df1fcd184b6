"""A training process: the cells of a `study run` trained beside the driver, which keeps the store.

TensorFlow's import and MLflow's (with its store) are both Python work, and in one process they take
turns under one GIL: measured, importing them on two threads took longer than one after the other.
So the driver starts this process first thing. It imports TensorFlow, loads the data and builds and
traces the first cell's engine, while the driver imports MLflow, opens the store and creates the
study's runs on the other core. The trainer then trains the cells the driver sends one after another.
It sends back every callback call the engine makes (the chunks' records, the eval points, the
summary), and the driver replays them on the cell's own callbacks (the MetricLogger, the progress
bar), so what is logged is what the engine in the driver's own process would have handed over.
The driver also keeps the MLflow writer's Python work off the training process.

The trainer writes nothing to the store. It keeps its engines and graphs from one study to the next
(one per driver process and numerics mode). It dies with the driver (PR_SET_PDEATHSIG on Linux, and
a watch on its parent everywhere) and ignores Ctrl-C, which the driver handles.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from multiprocessing.connection import Connection

from study.config import DataConfig, Settings
from study.data import DatasetInfo
from study.engine.callbacks import EngineCallback, ModelDescription
from study.engine.records import Summary, deliver
from study.grid import Cell
from study.task import task_of

ENVIRONMENT = ("STUDY_DATA_DIR", "KERAS_HOME", "HOME")  # what data loading reads from the environment
PARENT_POLL_S = 1.0  # how often the trainer checks that its driver is still there


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
    save: bool = False  # its model will be saved: import what saving needs while it trains


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
        # A new interpreter, not multiprocessing's spawn (which would run the user's script again, as
        # `__mp_main__`, in a script without a main guard) and never a fork (the driver may run TensorFlow).
        ours, theirs = socket.socketpair()
        path = os.pathsep.join(p for p in sys.path if p)  # the modules the driver sees, `study` among them
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from study.run.trainer import main; main()", str(theirs.fileno())],
            pass_fds=[theirs.fileno()],
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
        )
        theirs.close()
        self.mode = mode
        self.conn = Connection(ours.detach())
        self.conn.send((mode, os.getpid(), first, sources))  # buffered by the socket: read when it starts
        self._numerics: dict[str, str] | None = None
        self._datasets: dict[DataSource, tuple] = {}  # source -> ("info", DatasetInfo) or ("error", exc, text)
        self._asked: set[DataSource] = set(sources)  # loaded at start-up, described as they are

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
        """The numerics the trainer runs with (study.numerics.Numerics.settings); waits for its start-up."""
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

    def train(self, job: Job, callbacks) -> Summary:
        """Train one cell in the trainer, replaying the engine's callback calls on `callbacks` here."""
        self.numerics()
        self.conn.send(("train", job))
        try:
            return self._replay(callbacks, task_of(job.settings).eval_metrics)
        except KeyboardInterrupt:
            self.close(kill=True)  # mid-cell: the driver ends the run KILLED; a later study starts a new trainer
            raise
        except TrainingProcessDied:
            self.close(kill=True)
            raise

    def save_model(self) -> str | None:
        """Save the model just trained as an MLflow model in a temporary directory (study/store/models.py)."""
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
                    self._cancel()
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
            raise TrainingProcessDied(f"the training process ended while training (exit code {code})") from None

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


def trainer_for(mode: str, cells: Sequence[Cell] = ()) -> Trainer | None:
    """This process's trainer for a numerics mode: the running one when it is alive and in that mode,
    else a new one. `cells`: a study's cells, whose datasets it loads and describes at once and whose
    first engine it builds. None where a socket cannot be handed to a child process (Windows): the
    cells then train in this process."""
    global _trainer
    if os.name != "posix":
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


def discard(trainer: Trainer) -> None:
    """Forget a trainer that failed (the next `trainer_for` starts a new one)."""
    global _trainer
    with _lock:
        trainer.close(kill=True)
        if _trainer is trainer:
            _trainer = None


# --- the training process -----------------------------------------------------------------------


class Forwarder(EngineCallback):
    """The trainer's one engine callback: sends every call to the driver; a `cancel` from the driver stops
    the cell at the next eval point."""

    def __init__(self, conn, preload: bool = False):
        self.conn, self.preload = conn, preload

    def set_model(self, model) -> None:
        from study.engine.diagnostics import layer_activations

        self.model = model
        self.conn.send(("call", ("set_model", (ModelDescription(layer_activations(model)),))))

    def on_train_begin(self, logs=None) -> None:
        self.conn.send(("call", ("on_train_begin", (logs,))))
        if self.preload and not _preloading:  # once the engine is traced (both are Python work)
            _preloading.append(True)
            threading.Thread(target=preload_model_saving, name="model-saving-preload", daemon=True).start()

    def on_epoch_end(self, epoch, logs=None) -> None:  # the driver replays these from the chunk's records
        if self.conn.poll() and self.conn.recv() == ("cancel",):
            self.stop_training = True

    def on_chunk_end(self, records) -> None:
        self.conn.send(("call", ("on_chunk_end", (records,))))

    def on_train_end(self, logs=None) -> None:
        self.conn.send(("call", ("on_train_end", (logs,))))


class BuildNext(EngineCallback):
    """In the trainer: when a cell starts, build the next cell's engine ahead (study/engine/prefetch.py)."""

    def __init__(self, settings: Settings, source: DataSource):
        self.settings, self.source = settings, source

    def on_train_begin(self, logs=None) -> None:
        from study.engine.prefetch import prefetch

        prefetch(self.settings, data_of(self.source))


class Channel:
    """The trainer's end of the socket: sends from its threads (the data loads, the training) one at a time."""

    def __init__(self, conn: Connection):
        self.conn, self.lock = conn, threading.Lock()

    def send(self, message) -> None:
        with self.lock:
            self.conn.send(message)

    def recv(self):
        return self.conn.recv()

    def poll(self) -> bool:
        return self.conn.poll()


def main() -> None:
    """The training process's entry point: its end of the socket is named on the command line."""
    conn = Channel(Connection(int(sys.argv[1])))
    mode, parent, first, sources = conn.recv()
    serve(conn, mode, parent, first, sources)


def serve(conn, mode: str, parent: int, first: tuple[Settings, DataSource] | None, sources=()) -> None:
    """The training process's main loop: the study's datasets loaded and described, TensorFlow with the
    mode's numerics, the first cell's engine, then one request at a time."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the driver, which ends this process
    die_with(parent)
    describe_all(conn, sources)  # first: a broken file is bad input, refused before TensorFlow (not beside
    try:  # it: the import holds the GIL, and a data load on a thread then took three times as long)
        from study.engine.backend import ensure

        numerics = ensure(mode)
    except Exception as exc:
        conn.send(("start-failed", sendable(exc)))
        return
    conn.send(("numerics", numerics.settings()))
    if first is not None:
        warm(*first)
    model = None
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        kind = request[0]
        if kind == "stop":
            return
        if kind == "warm":
            warm(*request[1:])
        elif kind == "describe":
            describe_all(conn, request[1:])
        elif kind == "train":
            model = train(conn, request[1])
        elif kind == "save":
            conn.send(save(model))
        # a `cancel` that came after its cell ended is dropped here


def warm(settings: Settings, source: DataSource) -> None:
    """Build and trace an engine ahead; an error is met again when the cell trains."""
    try:
        from study.engine.prefetch import prefetch

        prefetch(settings, data_of(source))
    except Exception:  # noqa: BLE001, S110 - the cell then raises it and ends FAILED with it
        pass


def train(conn, job: Job):
    """Train one cell, forwarding the callbacks; returns its model (for `save`)."""
    from study.engine.train import train_and_evaluate

    forward = Forwarder(conn, preload=job.save)
    try:
        data = data_of(job.data)
        callbacks = [forward, *([BuildNext(*job.ahead)] if job.ahead is not None else [])]
        summary = train_and_evaluate(job.settings, job.seed, data, callbacks)
    except Exception as exc:
        conn.send(("error", sendable(exc)))
        return None
    conn.send(("summary", summary))
    return forward.model, data


_preloading: list[bool] = []  # the imports model saving needs: started once per process


def preload_model_saving() -> None:
    from study.store.models import preload

    preload()  # cached: once per process


def save(trained) -> tuple[str, object]:
    """`("saved", path)` of the last trained model saved as an MLflow model, or `("error", exc)`."""
    try:
        from study.store.models import save_local

        model, data = trained
        return ("saved", save_local(model, data.x_test, data.num_outputs))
    except Exception as exc:
        return ("error", sendable(exc))


def describe_all(conn, sources) -> None:
    """Load each dataset (into the cache) and send its description, or its load's error, to the driver."""
    for source in sources:
        try:
            conn.send(("dataset", source, ("info", data_of(source).info)))
        except Exception as exc:
            conn.send(("dataset", source, ("error", *sendable(exc))))


def data_of(source: DataSource):
    """The cell's dataset, loaded as the driver would load it (its environment and working directory)."""
    for name, value in source.environment:
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    os.chdir(source.cwd)  # (the trainer's previous folder may be gone: a test's or a job's temporary one)
    return dataset_for(source.config, source.environment, source.cwd)


@lru_cache(maxsize=4)  # as the driver's cache (study/run/cell.py): a grid rarely varies the data
def dataset_for(config: DataConfig, environment: tuple, cwd: str):
    from study.data import load

    return load(config)


def sendable(exc: BaseException) -> tuple:
    """(the exception, or its type name and text when it does not survive pickling; its traceback)."""
    import pickle

    text = "".join(traceback.format_exception(exc))
    try:
        pickle.loads(pickle.dumps(exc))
        return exc, text
    except Exception:  # noqa: BLE001 - any failure to pickle: send the name and the text
        return (type(exc).__name__, str(exc)), text


def rebuilt(exc, text: str) -> BaseException:
    """The exception `sendable` sent, with the trainer's traceback as its cause."""
    if isinstance(exc, tuple):
        name, message = exc
        exc = type(name, (RemoteError,), {})(message)
    exc.__cause__ = RemoteTraceback(text)
    return exc


def die_with(parent: int) -> None:
    """End this process when the driver ends, even by SIGKILL: the kernel's parent-death signal on Linux,
    and a thread that watches the parent's pid everywhere."""
    try:
        import ctypes

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
