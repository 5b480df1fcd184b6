"""A new SQLite store, made whole or not at all: a copy of a pristine MLflow database hard-linked into place.

MLflow builds a new database through ~60 schema migrations applied in place, and a process killed
partway leaves a file no later run can open. Here every step that can be interrupted works on a
private draft (`<name>.<pid>.new`); drafts of killed processes are removed the next time.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from study.store.claims import pid_alive
from study.store.connect import make_store_folder


def create_sqlite_store(uri: str) -> None:
    """Create a missing SQLite store whole or not at all, so a kill during creation cannot break it.

    MLflow migrates a new database in place, one step at a time, and a process killed halfway
    leaves a file no later run can open ("duplicate column name"). Instead the store is made in a
    private draft that is then hard-linked into place: the link is atomic and fails when another
    process got there first, whose store is then used. The draft is a copy of `schema_template()`,
    MLflow's own freshly migrated database (~1.4 s to build), made once per MLflow version.
    """
    path = Path(uri.removeprefix("sqlite:///"))
    if not uri.startswith("sqlite:///") or str(path).startswith(":memory:"):
        return
    make_store_folder(path.parent)
    remove_dead_drafts(path)
    if path.exists():
        return
    draft = path.with_name(f"{path.name}.{os.getpid()}.new")
    try:
        template = schema_template()
        if template is None:
            build_mlflow_schema(draft)
        else:
            shutil.copyfile(template, draft)
            adopt_default_experiment(draft)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
    finally:
        draft.unlink(missing_ok=True)


def remove_dead_drafts(path: Path) -> None:
    """Delete the drafts (and their journals) of `path` left by creators that were killed."""
    for stale in path.parent.glob(f"{path.name}.*.new*"):
        pid = stale.name.split(".")[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            stale.unlink(missing_ok=True)


def build_mlflow_schema(db: Path) -> None:
    """An empty MLflow database at `db`, made by MLflow itself (every migration, the Default experiment)."""
    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    SqlAlchemyStore(f"sqlite:///{db}", DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH).engine.dispose()


def template_path() -> Path:
    """Where this user's pristine MLflow database of the installed MLflow version is kept."""
    from importlib.metadata import version

    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "study" / f"mlflow-{version('mlflow')}-sqlalchemy-{version('sqlalchemy')}-empty.db"


def schema_template() -> Path | None:
    """A pristine, fully migrated MLflow database to copy, built on first use; None when it cannot be kept
    (an unwritable cache), and the store is then built in place as MLflow does it."""
    path = template_path()
    if template_ok(path):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        remove_dead_drafts(path)
        draft = path.with_name(f"{path.name}.{os.getpid()}.new")
        try:
            build_mlflow_schema(draft)
            os.replace(draft, path)  # atomic: a reader sees the old template or the whole new one
        finally:
            draft.unlink(missing_ok=True)
    except OSError:
        return None
    return path if template_ok(path) else None


def template_ok(path: Path) -> bool:
    """Whether `path` is a whole MLflow database: migrated to a version and holding the Default experiment."""
    import sqlite3

    if not path.is_file():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as con:
            migrated = con.execute("SELECT count(*) FROM alembic_version").fetchone()[0] == 1
            default = con.execute("SELECT count(*) FROM experiments WHERE experiment_id = 0").fetchone()[0] == 1
            return migrated and default and not con.execute("SELECT 1 FROM runs LIMIT 1").fetchall()
    except sqlite3.DatabaseError:
        return False


def adopt_default_experiment(db: Path) -> None:
    """Give a copied template's Default experiment what MLflow would have given it here and now: its
    artifact location (`./mlruns/0`, resolved from the current directory) and its creation time."""
    import sqlite3

    from mlflow.store.tracking import DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH
    from mlflow.utils.uri import append_to_uri_path, resolve_uri_if_local

    location = append_to_uri_path(resolve_uri_if_local(DEFAULT_LOCAL_FILE_AND_ARTIFACT_PATH), "0")
    now = int(time.time() * 1000)
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
            "WHERE experiment_id = 0",
            (str(location), now, now),
        )
    con.close()
