"""The training process itself (started by study/execution/trainer.py, which holds the driver's side): the
study's datasets loaded and described, TensorFlow with the study's numerics, the first engine, then
one request of the driver at a time: build an engine ahead, describe a dataset, train a cell
(every callback call the engine makes is sent back), save the model just trained. It writes
nothing to the store, ignores Ctrl-C and ends with its driver."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from functools import lru_cache
from multiprocessing.connection import Connection

from study.engine.callbacks import EngineCallback, ModelDescription
from study.execution.trainer import DataSource, Job
from study.spec.data import DataConfig
from study.spec.settings import Settings

PARENT_POLL_S = 1.0  # how often the trainer checks that its driver is still there
PR_SET_PDEATHSIG = 1  # prctl's option (linux/prctl.h): the signal this process gets when its parent ends
# Keras imports each of these when installed (`try: import ...`), for its scikit-learn wrappers, image
# galleries and DataFrame inputs, none of which the engine uses: 1.5 s of the trainer's 3.6 s import.
KERAS_EXTRAS = ("sklearn", "scipy", "matplotlib", "pandas")


class Forwarder(EngineCallback):
    """The trainer's one engine callback: sends every call to the driver; a `cancel` from the driver stops
    the cell at the next eval point."""

    def __init__(self, conn):
        self.conn = conn

    def set_model(self, model) -> None:
        from study.engine.diagnostics import layer_activations

        self.model = model
        self.conn.send(("call", ("set_model", (ModelDescription(layer_activations(model)),))))

    def on_train_begin(self, logs=None) -> None:
        self.conn.send(("call", ("on_train_begin", (logs,))))

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
    os.dup2(2, 1)  # nothing the trainer prints mixes into the driver's output (its table, a report path)
    conn = Channel(Connection(int(sys.argv[1])))
    mode, parent, first, sources = conn.recv()
    serve(conn, mode, parent, first, sources)


def serve(conn, mode: str, parent: int, first: tuple[Settings, DataSource] | None, sources=()) -> None:
    """The training process's main loop: the study's datasets loaded and described, TensorFlow with the
    mode's numerics, the first cell's engine, then one request at a time."""
    for sig in (signal.SIGINT, signal.SIGTERM):  # a process group's Ctrl-C or SIGTERM (Slurm): the driver ends this one
        signal.signal(sig, signal.SIG_IGN)
    die_with(parent)
    # The data first: a broken file is bad input, refused before TensorFlow. (Not on a thread beside the
    # import: the import holds the GIL, and the load then took three times as long.)
    describe_all(conn, sources)
    try:
        with not_importable(KERAS_EXTRAS):
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


@contextmanager
def not_importable(names):
    """Within: importing any of `names` that is not imported yet fails with ImportError, so a library's
    optional `try: import name` takes its fallback; afterwards they import as usual again."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # the import system's own "not importable" mark
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, False) is None:
                del sys.modules[name]


def warm(settings: Settings, source: DataSource) -> None:
    """Build and trace an engine ahead; an error is met again when the cell trains."""
    try:
        from study.engine.prefetch import prefetch

        prefetch(settings, data_of(source))
    except Exception:  # noqa: BLE001, S110 - the cell then raises it and ends FAILED with it
        pass


def train(conn, job: Job):
    """Train one cell, forwarding the callbacks; returns its model (for `save`)."""
    from study.engine.training_loop import train_and_evaluate

    forward = Forwarder(conn)
    try:
        data = data_of(job.data)
        callbacks = [forward, *([BuildNext(*job.ahead)] if job.ahead is not None else [])]
        summary = train_and_evaluate(job.settings, job.seed, data, callbacks)
    except Exception as exc:
        conn.send(("error", sendable(exc)))
        return None
    conn.send(("summary", summary))
    return forward.model, data


def save(trained) -> tuple[str, object]:
    """`("saved", SavedKeras)` of the last trained model saved by Keras, or `("error", exc)`."""
    try:
        from study.engine.build import save_keras

        model, data = trained
        return ("saved", save_keras(model, data.x_test, data.num_outputs))
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


@lru_cache(maxsize=4)  # as study/execution/datasets.py's (with the folder in the key: the trainer outlives it)
def dataset_for(config: DataConfig, environment: tuple, cwd: str):
    from study.data.loading import load

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


def die_with(parent: int) -> None:
    """End this process when the driver ends, even by SIGKILL: the kernel's parent-death signal where
    there is one (Linux: the only instant way), and everywhere a thread that watches the parent."""
    if sys.platform.startswith("linux"):
        parent_death_signal(signal.SIGKILL)
    watch_parent(parent)


def parent_death_signal(sig: int) -> bool:
    """Have the kernel send `sig` to this process when its parent ends (Linux's PR_SET_PDEATHSIG);
    False where that cannot be set (another system, no C library reachable through ctypes)."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, sig) == 0
    except (OSError, AttributeError, TypeError):
        return False


def watch_parent(parent: int, poll_s: float = PARENT_POLL_S, reparents: bool = os.name == "posix") -> threading.Thread:
    """A daemon thread that ends this process (exit status 1) once the driver `parent` is gone
    (`parent_gone`), checking every `poll_s` seconds and first at once: the parent may have died
    before the death signal was set."""
    gone = parent_gone(parent, reparents)

    def watch() -> None:
        while not gone():
            time.sleep(poll_s)
        os._exit(1)

    thread = threading.Thread(target=watch, name="parent-watch", daemon=True)
    thread.start()
    return thread


def parent_gone(parent: int, reparents: bool = os.name == "posix") -> Callable[[], bool]:
    """A check of whether the driver `parent` is gone: this process reparented away from it
    (`reparents`: POSIX gives an orphan another parent), or the pid no longer running, a zombie, or
    reused by a process created after this one (psutil compares creation times; this is what works
    on Windows, where a child is never reparented and a venv's python.exe may stand between the two)."""
    import psutil

    try:
        watched = psutil.Process(parent)
        if not reparents and watched.create_time() > psutil.Process().create_time():
            raise psutil.NoSuchProcess(parent)  # the pid is already another process's
    except psutil.Error:
        return lambda: True

    def gone() -> bool:
        try:
            return (
                (reparents and os.getppid() != parent)
                or not watched.is_running()
                or watched.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
            )
        except psutil.NoSuchProcess:
            return True
        except psutil.Error:  # not allowed to look: the pid check above decides
            return False

    return gone
