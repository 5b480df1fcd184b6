"""The MLflow store: experiment per study, parent run per `study run`, child run per cell.

docs/store-layout.md is the contract this module writes. Everything goes through an explicit
`MlflowClient` (no global "active run"), so several processes can write one store. Metrics
never go one call per value: the `MetricLogger` callback buffers a chunk's values and a
background thread sends them with `log_batch` while training goes on.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import mlflow
from mlflow.entities import Metric, Param, RunStatus, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

import study
from study.grid import Cell, flatten_settings

STORE_DIR = "mlruns"  # the default local store, relative to the current directory
PACKAGES = ("tensorflow", "keras", "mlflow", "numpy", "pandas")
FLUSH_SECONDS = 2.0  # the background writer sends at most this often while a cell trains
CLAIMS_DIR = "claims"  # beside a SQLite store: one lock file per cell that some process trains or trained

logging.getLogger("mlflow").setLevel(logging.WARNING)
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # its INFO lines (DB migrations) drown the progress bar


# --- the store -----------------------------------------------------------------------------


def tracking_uri() -> str:
    """`MLFLOW_TRACKING_URI` when set, else SQLite inside ./mlruns (MLflow ≥ 3.13 refuses a file store)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI")
    if uri:
        return uri
    Path(STORE_DIR).mkdir(exist_ok=True)
    return f"sqlite:///{Path(STORE_DIR).resolve() / 'mlflow.db'}"


def create_sqlite_store(uri: str) -> None:
    """Create a missing SQLite store whole or not at all, so a kill during creation cannot break it.

    MLflow migrates a new database in place, one step at a time, and a process killed halfway
    leaves a file no later run can open ("duplicate column name"). Instead the schema is built
    in a private draft that is then hard-linked into place: the link is atomic and fails when
    another process got there first, whose store is then used.
    """
    path = Path(uri.removeprefix("sqlite:///"))
    if not uri.startswith("sqlite:///") or str(path).startswith(":memory:"):
        return
    for stale in path.parent.glob(f"{path.name}.*.new*"):  # drafts (and journals) of killed creators
        if process_alive(f"{socket.gethostname()}:{stale.name.split('.')[-2]}:") is False:
            stale.unlink(missing_ok=True)
    if path.exists():
        return
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f"{path.name}.{os.getpid()}.new")
    try:
        SqlAlchemyStore(f"sqlite:///{draft}", DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).engine.dispose()
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        draft.unlink(missing_ok=True)


def repoint_moved_store(uri: str) -> list[str]:
    """Re-point the artifact paths of a default SQLite store that was copied or moved from elsewhere.

    The store directory is the unit a user sends (`mlruns/`: `mlflow.db` + `artifacts/`), but MLflow
    records absolute artifact URIs. An experiment whose location is `<old>/artifacts/<name>`, where
    `<old>` is not this store's directory and this store holds `artifacts/<name>`, gets its
    experiment and run URIs rewritten to this directory, in one transaction; nothing else changes.
    Returns the names of the experiments re-pointed.
    """
    import sqlite3

    if not uri.startswith("sqlite:///"):
        return []
    db = Path(uri.removeprefix("sqlite:///"))
    here = (db.parent / "artifacts").resolve()
    if not db.is_file() or not here.is_dir():
        return []
    moved = []
    with sqlite3.connect(db, timeout=30) as con:
        try:
            rows = con.execute("SELECT experiment_id, name, artifact_location FROM experiments").fetchall()
        except sqlite3.DatabaseError:
            return []  # not (yet) an MLflow database: MLflow's own open reports it
        for exp_id, name, location in rows:
            new = (here / name).as_uri()
            old = location or ""
            if old == new or not old.startswith("file://") or not old.endswith(f"/artifacts/{name}"):
                continue
            if not (here / name).is_dir():
                continue
            con.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?", (new, exp_id))
            con.execute("UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                        "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                        (new, len(old) + 1, exp_id, len(old), old))
            moved.append(name)
    return moved


def artifact_location(name: str, uri: str) -> str | None:
    """Artifacts of the default SQLite store live beside it, under mlruns/artifacts/<study>."""
    if uri.startswith("sqlite:///") and not os.environ.get("MLFLOW_TRACKING_URI"):
        return (Path(STORE_DIR).resolve() / "artifacts" / name).as_uri()
    return None


def retry(fn: Callable[..., Any], *args, attempts: int = 6, **kwargs) -> Any:
    """Call an MLflow function, retrying when SQLite reports the database locked or busy."""
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MlflowException or sqlalchemy.exc.OperationalError
            text = str(exc).lower()
            if i == attempts - 1 or not ("locked" in text or "busy" in text):
                raise
            time.sleep(0.2 * 2**i)


@cache
def versions() -> dict[str, str]:
    """Installed versions of the packages that decide a run's numbers."""
    out = {"study": study.__version__}
    for pkg in PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            pass
    return out


@cache
def git_commit() -> str | None:
    """The current git commit of the working directory, if it is a repository."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def process_tag() -> str:
    """host:pid:start-ticks of this process, so a later run can tell whether it is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid())}"


def process_start(pid: int) -> str:
    """The kernel's start time of a process (Linux), or '' where unknown; guards against pid reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_alive(tag: str) -> bool | None:
    """Whether the process named by a `process_tag` lives; None when it ran on another host."""
    host, _, rest = tag.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not start or process_start(pid) == start


def clip(text: str, limit: int) -> str:
    """MLflow rejects params and tags over its length limits: keep the head."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Store:
    """One MLflow store, seen through an explicit client."""

    def __init__(self, uri: str | None = None):
        self.uri = uri or tracking_uri()
        create_sqlite_store(self.uri)
        self.client = MlflowClient(self.uri)

    def repoint_if_moved(self) -> None:
        """Before reading or writing artifacts: make a moved store's artifact paths its own (see
        `repoint_moved_store`), with a notice the first time."""
        moved = repoint_moved_store(self.uri)
        if moved:
            print(f"this store was moved here: artifact paths of {', '.join(moved)} now point to it", file=sys.stderr)

    # experiments and lookups

    def experiment_id(self, name: str, description: str = "") -> str:
        """The study's experiment, created on first use; its description shows in the MLflow UI."""
        exp = retry(self.client.get_experiment_by_name, name)
        if exp is None:
            try:
                exp_id = retry(self.client.create_experiment, name, artifact_location(name, self.uri))
            except mlflow.exceptions.MlflowException:  # another process created it just now
                exp_id = retry(self.client.get_experiment_by_name, name).experiment_id
        else:
            exp_id = exp.experiment_id
        if description and (exp is None or exp.tags.get("mlflow.note.content") != description):
            retry(self.client.set_experiment_tag, exp_id, "mlflow.note.content", description)
        return exp_id

    def runs(self, exp_id: str, filter_string: str) -> list:
        """Every run of the experiment matching the filter (all pages)."""
        out, token = [], None
        while True:
            page = retry(self.client.search_runs, [exp_id], filter_string, max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def finished_cells(self, exp_id: str, dataset_digest: str) -> dict[str, Any]:
        """config_hash -> the latest FINISHED run of that cell on this dataset."""
        found = self.runs(exp_id, "tags.`study.role` = 'cell' and attributes.status = 'FINISHED'")
        found.sort(key=lambda r: r.info.start_time)
        return {r.data.tags["study.config_hash"]: r for r in found
                if r.data.tags.get("study.dataset_digest") in dataset_digest.split(",")
                and "study.config_hash" in r.data.tags}

    def taken(self, exp_id: str, config_hash: str, digest: str, finished: bool = True) -> str | None:
        """Why another process's run makes this cell unnecessary now (FINISHED or live RUNNING), or None.

        `finished=False` (a `--rerun`) counts only live RUNNING runs: finished ones are to be redone.
        """
        for run in self.runs(exp_id, f"tags.`study.config_hash` = '{config_hash}'"):
            if run.data.tags.get("study.dataset_digest") not in digest.split(","):
                continue
            if finished and run.info.status == "FINISHED":
                return f"finished meanwhile as run {run.info.run_id}"
            if run.info.status == "RUNNING" and process_alive(run.data.tags.get("study.process", "")):
                return f"being trained by another process (run {run.info.run_id})"
        return None

    def claim(self, exp_id: str, config_hash: str, digest: str) -> Claim | None:
        """This process's exclusive right to train a cell now, or None while another process holds it.

        Only local SQLite stores on systems with `flock` can be claimed; elsewhere the claim is
        empty and `taken` is the only guard.
        """
        try:
            import fcntl
        except ImportError:  # Windows
            return Claim(None)
        if not self.uri.startswith("sqlite:///"):
            return Claim(None)
        folder = Path(self.uri.removeprefix("sqlite:///")).parent / CLAIMS_DIR
        folder.mkdir(exist_ok=True)
        fd = os.open(folder / f"{exp_id}-{config_hash}-{digest}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # held by another process
            os.close(fd)
            return None
        return Claim(fd)

    def mark_dead_runs(self, exp_id: str) -> list[str]:
        """Runs left RUNNING by a process that no longer exists become KILLED, with the reason."""
        marked = []
        for run in self.runs(exp_id, "attributes.status = 'RUNNING'"):
            tag = run.data.tags.get("study.process", "")
            if process_alive(tag) is False:
                reason = f"the process that ran it ({tag}) ended without closing the run"
                retry(self.client.set_tag, run.info.run_id, "study.failure", reason)
                retry(self.client.set_terminated, run.info.run_id, "KILLED")
                marked.append(run.info.run_id)
        return marked

    # writing runs

    def start_parent(self, exp_id: str, name: str, tags: dict[str, str]) -> str:
        """Create the parent run of one `study run` invocation."""
        run_name = f"{name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        all_tags = {"study.role": "parent", "study.name": name, "study.process": process_tag(), **common_tags(), **tags}
        return retry(self.client.create_run, exp_id, run_name=run_name, tags=all_tags).info.run_id

    def start_cell(self, exp_id: str, parent_id: str, study_name: str, cell: Cell, axes: list[str],
                   dataset: str, digest: str, n_classes: int, extra_tags: dict[str, str] | None = None) -> str:
        """Create a cell's child run with its tags and params (metrics come from MetricLogger);
        `extra_tags` carry what the engine settled for it (the numerics)."""
        tags = {
            "mlflow.parentRunId": parent_id, "study.role": "cell", "study.name": study_name,
            "study.cell": cell.group, "study.config_hash": cell.config_hash, "study.seed": str(cell.seed),
            "study.axes": json.dumps(axes), "study.dataset": dataset, "study.dataset_digest": digest,
            "study.n_classes": str(n_classes), "study.process": process_tag(), **common_tags(),
            **{f"axis.{short}": text for short, text in cell.labels.items()}, **(extra_tags or {}),
        }
        run_id = retry(self.client.create_run, exp_id, run_name=cell.name, tags=tags).info.run_id
        params = {k: param_text(v) for k, v in flatten_settings(cell.settings).items()}
        # the axes under their short names; a bundle axis by its label (its JSON is unreadable as a column)
        params.update({short: cell.labels[short] if isinstance(cell.axes[key], dict) else param_text(cell.axes[key])
                       for key, short in zip(axes, cell.labels)})
        params["seed"] = str(cell.seed)
        items = [Param(k, clip(v, MAX_PARAM_VAL_LENGTH)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            retry(self.client.log_batch, run_id, params=items[i:i + 100])
        return run_id

    def log_metrics(self, run_id: str, metrics: list[Metric]) -> None:
        """Send metrics in batches of MLflow's maximum size."""
        for i in range(0, len(metrics), MAX_METRICS_PER_BATCH):
            retry(self.client.log_batch, run_id, metrics=metrics[i:i + MAX_METRICS_PER_BATCH])

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        retry(self.client.log_batch, run_id, tags=[RunTag(k, clip(str(v), MAX_TAG_VAL_LENGTH)) for k, v in tags.items()])

    def log_text(self, run_id: str, text: str, path: str) -> None:
        retry(self.client.log_text, run_id, text, path)

    def log_figure(self, run_id: str, figure, path: str) -> None:
        retry(self.client.log_figure, run_id, figure, path)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        retry(self.client.set_terminated, run_id, status)


class Claim:
    """An exclusive OS file lock on one cell: checking `taken` and then creating a run is not atomic,
    so two processes could both find a cell free and both train it; holding this lock across the
    check, the training and the run's end closes that window. The kernel drops the lock when its
    process ends, however it ends, so a `kill -9` never leaves a stale claim behind.
    """

    def __init__(self, fd: int | None):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None


# The lock file a checkout installs from (README, .ci/run); absent when `study` is installed as a library.
LOCK_FILE = Path(study.__file__).resolve().parent.parent / "requirements" / "lock.txt"


@cache
def environment_digests() -> dict[str, str]:
    """`study.lock_digest` (the lock this checkout installs from) and `study.env_digest` (every installed
    distribution's name==version): equal digests, equal environment; a reproduction compares them."""
    import hashlib

    installed = sorted({f"{(d.metadata['Name'] or '').lower()}=={d.version}" for d in metadata.distributions()})
    tags = {"study.env_digest": hashlib.sha256("\n".join(installed).encode()).hexdigest()[:16]}
    if LOCK_FILE.is_file():
        tags["study.lock_digest"] = hashlib.sha256(LOCK_FILE.read_bytes()).hexdigest()[:16]
    return tags


def common_tags() -> dict[str, str]:
    """Tags every run carries: package versions, environment digests and the git commit."""
    tags = {f"study.versions.{k}": v for k, v in versions().items()} | environment_digests()
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


def param_text(value: Any) -> str:
    """A setting as an MLflow param string: scalars as text, lists and mappings as compact JSON."""
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


# --- the callback --------------------------------------------------------------------------


class BackgroundWriter:
    """A thread that sends queued MLflow writes in order, so training never waits on the store."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="mlflow-writer", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], *args) -> None:
        if self.error is not None:
            raise RuntimeError(f"MLflow write failed: {self.error}") from self.error
        self.jobs.put((fn, args, False))

    def after_writes(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on the writer thread once every write queued before it is done, even a failed one."""
        self.jobs.put((fn, (), True))

    def flush(self) -> None:
        """Wait until every queued write is done; re-raise the first failure."""
        self.jobs.join()
        if self.error is not None:
            raise RuntimeError(f"MLflow write failed: {self.error}") from self.error

    def _work(self) -> None:
        while True:
            fn, args, always = self.jobs.get()
            try:
                if always or self.error is None:  # after a failed write, skip the rest (no FINISHED)
                    fn(*args)
            except BaseException as exc:  # kept and raised on the caller's thread
                self.error = exc
            finally:
                self.jobs.task_done()


class EngineCallback:
    """No-op hooks of the engine's callback protocol (a `keras.callbacks.Callback`'s, plus
    `on_chunk_end`), without importing TensorFlow: subclasses override what they need."""

    model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None) -> None:
        pass

    def on_epoch_end(self, epoch, logs=None) -> None:
        pass

    def on_chunk_end(self, records) -> None:
        pass

    def on_train_end(self, logs=None) -> None:
        pass


class MetricLogger(EngineCallback):
    """Keras callback that sends a cell's recorded values to its MLflow run, batched and asynchronous.

    Duck-typed as a `keras.callbacks.Callback` (set_model / on_* methods) so it needs no
    TensorFlow import here; `on_chunk_end` receives whole chunks from the engine.
    """

    def __init__(self, store: Store, run_id: str, writer: BackgroundWriter):
        self.store, self.run_id, self.writer = store, run_id, writer
        self.pending: list[Metric] = []
        self.last_send = time.monotonic()
        self.history: dict[str, list[tuple[int, float]]] = {"train_acc": [], "test_acc": [], "test_loss": []}
        self.seconds = 0.0  # time this callback spent on the training thread

    def on_chunk_end(self, records) -> None:
        t0 = time.perf_counter()
        now = int(time.time() * 1000)
        add = self.pending.append
        for step, value in zip(records.steps.tolist(), records.train_loss.tolist()):
            add(Metric("train_loss", value, now, step))
        for key in ("train_acc", "test_acc", "test_loss"):
            values = getattr(records, key).tolist()
            for step, value in zip(records.eval_steps.tolist(), values):
                add(Metric(key, value, now, step))
                self.history[key].append((step, value))
        for key, values in records.extra.items():
            for step, value in zip(records.extra_steps.tolist(), values.tolist()):
                add(Metric(key, value, now, step))
        if time.monotonic() - self.last_send >= FLUSH_SECONDS:
            self.send()
        self.seconds += time.perf_counter() - t0

    def on_train_end(self, logs=None) -> None:
        t0 = time.perf_counter()
        now = int(time.time() * 1000)
        step = self.history["test_acc"][-1][0] if self.history["test_acc"] else 0
        self.pending.extend(Metric(k, float(v), now, step) for k, v in (logs or {}).items())
        self.send()
        self.seconds += time.perf_counter() - t0

    def send(self) -> None:
        """Queue the pending metrics for the background writer."""
        if self.pending:
            self.writer.submit(self.store.log_metrics, self.run_id, self.pending)
            self.pending = []
        self.last_send = time.monotonic()


# --- artifacts -----------------------------------------------------------------------------


def learning_curve(history: dict[str, list[tuple[int, float]]], title: str):
    """The course's plot: training and test accuracy against iteration."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    ax = fig.subplots()
    for key, label in (("train_acc", "training"), ("test_acc", "test")):
        if history.get(key):
            steps, values = zip(*history[key])
            ax.plot(steps, values, label=label)
    ax.set(xlabel="iteration", ylabel="accuracy", ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return fig
