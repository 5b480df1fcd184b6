"""Where the store is and how it is opened: the tracking URI, checks, moved stores, retries on a busy
database."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from study.errors import StudyError
from study.store.schema import check_schema

STORE_DIR = "mlruns"  # the default local store: a folder of the project
PROJECT_MARKERS = ("pyproject.toml", ".git")  # a folder holding one of these is a project's root

logging.getLogger("mlflow").setLevel(logging.WARNING)
# MLflow logs every failed database call with its traceback before raising it; the raised error is
# what study reports, on one line (store_fault_text), so its log is silenced.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
os.environ.setdefault(
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"
)  # its INFO lines (DB migrations) drown the progress bar

# MLflow's HTTP client retries a failed call 7 times with backoff (about 4 minutes) and waits 120 s
# for each answer: a tracking server that died would keep `study run` silent for minutes. Unless the
# user chose otherwise: 4 retries, 0+2+4+8 s apart (~15 s in all), and 30 s for an answer.
for _name, _value in (
    ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "4"),
    ("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1"),
    ("MLFLOW_HTTP_REQUEST_TIMEOUT", "30"),
):
    os.environ.setdefault(_name, _value)

_explicit_store: str | None = None  # `study --store`: wins over everything


def use_store(uri: str | None) -> None:
    """Make `uri` the store of every command in this process (the CLI's `--store`); None undoes it."""
    global _explicit_store
    _explicit_store = uri


def project_root(start: str | os.PathLike | None = None) -> Path:
    """The project a command works in, so that every folder of it reaches the same store: from `start`
    (a study file's folder; default the current directory) upward, the nearest folder that holds a
    store (`mlruns/mlflow.db`) or a project marker (pyproject.toml, .git). The search stops at the
    home and temporary directories (a stray `~/mlruns` or `/tmp/mlruns` is nobody's project); without
    a find, `start` itself."""
    here = Path(start).resolve() if start is not None else Path.cwd().resolve()
    stops = {Path.home().resolve(), Path(tempfile.gettempdir()).resolve()}
    for folder in (here, *here.parents):
        if (folder / STORE_DIR / "mlflow.db").is_file() or any((folder / m).exists() for m in PROJECT_MARKERS):
            return folder
        if folder in stops:
            break
    return here


def default_tracking_uri(start: str | os.PathLike | None = None) -> str:
    """The store every command uses: `--store` when given, else `MLFLOW_TRACKING_URI`, else SQLite in
    the project's `mlruns/` (project_root from `start`; MLflow ≥ 3.13 refuses a file store). Only the
    choice: nothing is created or checked."""
    chosen = _explicit_store or os.environ.get("MLFLOW_TRACKING_URI")
    return chosen or f"sqlite:///{project_root(start) / STORE_DIR / 'mlflow.db'}"


def tracking_uri(start: str | os.PathLike | None = None) -> str:
    """The default store for writing: `default_tracking_uri()`, creating its mlruns/ folder when that is the one."""
    uri = default_tracking_uri(start)
    if not (_explicit_store or os.environ.get("MLFLOW_TRACKING_URI")):
        make_store_folder(Path(uri.removeprefix("sqlite:///")).parent)
    return uri


def make_store_folder(folder: Path) -> None:
    """Create a SQLite store's folder (and its parents); StudyError, one line, where a file stands in its way."""
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            raise StudyError(
                f"{part}: the store's folder is a file, not a directory: move it away, or choose another "
                "store with --store or MLFLOW_TRACKING_URI"
            )
    folder.mkdir(parents=True, exist_ok=True)


def store_dir(uri: str) -> Path | None:
    """The folder of a SQLite store (`…/mlruns`), None for other stores."""
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        return Path(uri.removeprefix("sqlite:///").split("?")[0]).resolve().parent
    return None


def resolve_tracking_uri(tracking_uri: str | None) -> str:
    """The store for reading: the given URI, else `default_tracking_uri()`; StudyError for a missing SQLite file.

    Creates nothing, not even ./mlruns: reading (a report, a Description) never makes a store.
    """
    uri = tracking_uri or default_tracking_uri()
    path = sqlite_path(uri)
    if path is not None and not path.is_file():
        raise StudyError(f"no MLflow store at {path}: run a study first, or set MLFLOW_TRACKING_URI")
    if path is not None:
        check_store(uri)  # a server is checked where it is opened (Store)
    return uri


SQLITE_MAGIC = b"SQLite format 3\x00"
MLFLOW_TABLES = {"alembic_version", "experiments", "runs", "metrics", "params", "tags"}
LOCK_WAIT_S = 10.0  # how long a writer waits for another process's lock on the store before giving up


def sqlite_path(uri: str) -> Path | None:
    """The file of a `sqlite:///` URI (None for other stores and in-memory databases)."""
    if not uri.startswith("sqlite:///") or ":memory:" in uri:
        return None
    return Path(uri.removeprefix("sqlite:///").split("?")[0])


def check_store(uri: str, writing: bool = False) -> None:
    """StudyError, with one line, for a SQLite store MLflow must not open: not a database, a database
    of another program, a schema this MLflow does not know, or (`writing`) a store that is read-only,
    on a full disk or locked by another process for longer than LOCK_WAIT_S. Reads only: MLflow
    would otherwise migrate any SQLite file in place, another program's included."""
    if uri.startswith(("http://", "https://")):
        check_server(uri)
        return
    path = sqlite_path(uri)
    if path is None or not path.exists():
        return
    if not path.is_file():
        raise StudyError(f"{path}: the store path is a directory, not an MLflow database file")
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as exc:
        raise StudyError(f"{path}: cannot read the store ({exc.strerror})") from None
    if head != SQLITE_MAGIC:
        what = "an empty file" if not head else "not a SQLite database"
        raise StudyError(f"{path}: {what}, so not an MLflow store; point MLFLOW_TRACKING_URI elsewhere or move it")
    import sqlite3

    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=LOCK_WAIT_S)
        try:
            tables = {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            revision = (
                con.execute("SELECT version_num FROM alembic_version").fetchone()
                if "alembic_version" in tables
                else None
            )
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        raise StudyError(f"{path}: {store_fault_text(exc) or f'cannot read the store ({exc})'}") from None
    if tables and not MLFLOW_TABLES <= tables:
        shown = ", ".join(sorted(tables)[:5]) + (", …" if len(tables) > 5 else "")
        raise StudyError(
            f"{path}: a SQLite database of another program (tables: {shown}), not an MLflow store; "
            "it is left as it is: point MLFLOW_TRACKING_URI elsewhere"
        )
    if revision is not None:
        check_schema(path, revision[0])
    if writing:
        check_writable(path)


SERVER_WAIT_S = 10.0  # how long a tracking server may take to answer /health


def check_server(uri: str) -> None:
    """A tracking server must answer its /health check (MLflow's client would retry for minutes)."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_WAIT_S) as reply:
            body = reply.read(64)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise StudyError(f"MLFLOW_TRACKING_URI: cannot reach the tracking server {uri} ({reason})") from None
    if body.strip() != b"OK":
        raise StudyError(f"MLFLOW_TRACKING_URI: {uri} answers /health with {body[:40]!r}, not as an MLflow server")


def read_only_mount(folder: Path) -> bool:
    """Whether `folder` is on a file system mounted read-only (POSIX's statvfs; Windows has none to
    ask, and there a read-only file is what `check_writable` sees)."""
    statvfs = getattr(os, "statvfs", None)
    return statvfs is not None and bool(statvfs(folder).f_flag & os.ST_RDONLY)


def check_writable(path: Path) -> None:
    """A store `study run` will write: not read-only, not on a full disk, not locked past LOCK_WAIT_S."""
    import sqlite3

    if not path.stat().st_mode & 0o222 or read_only_mount(path.parent):
        raise StudyError(f"{path}: the store is read-only; make it writable or copy it somewhere writable")
    free = shutil.disk_usage(path.parent).free  # statvfs's f_bavail * f_frsize on POSIX
    if free < MIN_FREE_BYTES:
        raise StudyError(f"{path}: the disk holding the store is full ({free} bytes free)")
    con = sqlite3.connect(str(path), timeout=LOCK_WAIT_S, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")  # the write lock, taken and given back: nothing is written
        con.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        raise StudyError(f"{path}: {store_fault_text(exc) or exc}") from None
    finally:
        con.close()


MIN_FREE_BYTES = 16 * 2**20  # below this a run cannot log its artifacts; refused before it starts


SERVER_GONE = "the tracking server stopped answering; finished cells are kept: run again when it is back"


def store_fault_text(exc: BaseException) -> str | None:
    """One line for an exception that means the store cannot be used (locked, full, read-only, not a
    database), from SQLite's own message anywhere in the chain; None for any other exception."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        text = str(exc).lower()
        if "database is locked" in text or "database table is locked" in text:
            return f"the store is locked by another process for longer than {LOCK_WAIT_S:g}s; retry when it is done"
        if "database or disk is full" in text or "no space left" in text or "file too large" in text:
            return "the disk holding the store is full; free space and run again (finished cells are kept)"
        if "readonly database" in text or "read-only file system" in text:
            return "the store is read-only; make it writable or copy it somewhere writable"
        if "file is not a database" in text:
            return "not an MLflow store (not a SQLite database)"
        if "max retries exceeded" in text or "connection refused" in text or "cannot reach the tracking" in text:
            return SERVER_GONE
        if lost_connection(exc):  # e.g. the server killed in the middle of a request: not retried
            return SERVER_GONE
        if "disk i/o error" in text:
            return "the store's disk failed a write (disk I/O error); check the disk and run again"
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


def lost_connection(exc: BaseException) -> bool:
    """Whether `exc` is the HTTP client's failure to get an answer: a lost, refused or timed-out
    connection, an answer cut off (MLflow raises its own error with the client's as the context)."""
    import sys

    requests, urllib3 = sys.modules.get("requests"), sys.modules.get("urllib3")  # loaded if they raised it
    kinds = (requests.exceptions.RequestException,) if requests is not None else ()
    kinds += (urllib3.exceptions.HTTPError,) if urllib3 is not None else ()
    return bool(kinds) and isinstance(exc, kinds)


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
            con.execute(
                "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                (new, len(old) + 1, exp_id, len(old), old),
            )
            moved.append(name)
    return moved


def artifact_location(name: str, uri: str) -> str | None:
    """Artifacts of a SQLite store named by path (the default `mlruns/mlflow.db`, or a `store=` given to
    the Python API) live beside it, under <store dir>/artifacts/<study>; a store named by
    MLFLOW_TRACKING_URI keeps MLflow's own choice."""
    folder = store_dir(uri)
    if folder is not None and uri != os.environ.get("MLFLOW_TRACKING_URI"):
        return (folder / "artifacts" / name).as_uri()
    return None


def retry(fn: Callable[..., Any], *args, attempts: int = 6, upsert: bool = False, **kwargs) -> Any:
    """Call an MLflow function, retrying when SQLite reports the database locked or busy. `upsert=True`
    marks a write that may be repeated (setting a tag): it is retried too when a concurrent writer inserted
    the same key first (the store's select-then-insert race), as the second try updates that row."""
    for i in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # MlflowException or sqlalchemy.exc.OperationalError / IntegrityError
            if i == attempts - 1 or not is_transient(str(exc).lower(), upsert):
                raise
            time.sleep(0.2 * 2**i)


def is_transient(text: str, upsert: bool) -> bool:
    """Whether an error is worth another try: a busy database, or a lost insert race on a repeatable write."""
    busy = "locked" in text or "busy" in text
    lost_race = upsert and ("unique constraint" in text or "integrityerror" in text or "duplicate key" in text)
    return busy or lost_race
