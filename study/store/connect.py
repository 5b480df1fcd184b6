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
    if uri.startswith("sqlite:///") and ":memory:" not in uri:
        path = Path(uri.removeprefix("sqlite:///").split("?")[0])
        if not path.is_file():
            raise StudyError(f"no MLflow store at {path}: run a study first, or set MLFLOW_TRACKING_URI")
    return uri


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
    """Artifacts of a SQLite store named by path (the default `mlruns/mlflow.db`, or a `store=` given to
    the Python API) live beside it, under <store dir>/artifacts/<study>; a store named by
    MLFLOW_TRACKING_URI keeps MLflow's own choice."""
    if uri.startswith("sqlite:///") and ":memory:" not in uri and uri != os.environ.get("MLFLOW_TRACKING_URI"):
        return (Path(uri.removeprefix("sqlite:///")).resolve().parent / "artifacts" / name).as_uri()
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
