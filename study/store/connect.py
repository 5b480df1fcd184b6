"""Where the store is and how it is opened: the tracking URI, atomic SQLite creation, moved stores,
retries on a busy database."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from study.errors import StudyError
from study.store.claims import process_alive

STORE_DIR = "mlruns"  # the default local store, relative to the current directory

logging.getLogger("mlflow").setLevel(logging.WARNING)
# MLflow logs every failed database call with its traceback before raising it; the raised error is
# what study reports, on one line (store_fault_text), so its log is silenced.
logging.getLogger("mlflow.store.db.utils").setLevel(logging.CRITICAL)
os.environ.setdefault(
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false"
)  # its INFO lines (DB migrations) drown the progress bar


def default_tracking_uri() -> str:
    """The store every command uses unless told otherwise: `MLFLOW_TRACKING_URI` when set, else SQLite
    inside ./mlruns (MLflow ≥ 3.13 refuses a file store). Only the choice: nothing is created or checked."""
    return os.environ.get("MLFLOW_TRACKING_URI") or f"sqlite:///{Path(STORE_DIR).resolve() / 'mlflow.db'}"


def tracking_uri() -> str:
    """The default store for writing: `default_tracking_uri()`, creating ./mlruns when that is the one."""
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        Path(STORE_DIR).mkdir(exist_ok=True)
    return default_tracking_uri()


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


def check_schema(path: Path, revision: str) -> None:
    """The store's schema must be one this MLflow knows, and current (MLflow upgrades nothing by itself)."""
    import mlflow
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    scripts = ScriptDirectory(str(Path(mlflow.store.__file__).parent / "db_migrations"))
    try:
        scripts.get_revision(revision)
    except CommandError:
        raise StudyError(
            f"{path}: written by a newer MLflow (schema revision {revision}, unknown to MLflow {mlflow.__version__}); "
            "upgrade mlflow to open it"
        ) from None
    head = scripts.get_current_head()
    if revision != head:
        raise StudyError(
            f"{path}: an older MLflow schema ({revision}; MLflow {mlflow.__version__} uses {head}); back the file "
            f"up, then run `mlflow db upgrade sqlite:///{path}`"
        )


def check_writable(path: Path) -> None:
    """A store `study run` will write: not read-only, not on a full disk, not locked past LOCK_WAIT_S."""
    import sqlite3

    if not path.stat().st_mode & 0o222 or os.statvfs(path.parent).f_flag & os.ST_RDONLY:
        raise StudyError(f"{path}: the store is read-only; make it writable or copy it somewhere writable")
    free = os.statvfs(path.parent)
    if free.f_bavail * free.f_frsize < MIN_FREE_BYTES:
        raise StudyError(f"{path}: the disk holding the store is full ({free.f_bavail * free.f_frsize} bytes free)")
    con = sqlite3.connect(str(path), timeout=LOCK_WAIT_S, isolation_level=None)
    try:
        con.execute("BEGIN IMMEDIATE")  # the write lock, taken and given back: nothing is written
        con.execute("ROLLBACK")
    except sqlite3.OperationalError as exc:
        raise StudyError(f"{path}: {store_fault_text(exc) or exc}") from None
    finally:
        con.close()


MIN_FREE_BYTES = 16 * 2**20  # below this a run cannot log its artifacts; refused before it starts


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
        if "max retries exceeded" in text or "connection refused" in text:
            return "the tracking server stopped answering; finished cells are kept: run again when it is back"
        if "disk i/o error" in text:
            return "the store's disk failed a write (disk I/O error); check the disk and run again"
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return None


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
            con.execute(
                "UPDATE runs SET artifact_uri = ? || substr(artifact_uri, ?) "
                "WHERE experiment_id = ? AND substr(artifact_uri, 1, ?) = ?",
                (new, len(old) + 1, exp_id, len(old), old),
            )
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
