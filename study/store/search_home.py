"""Where a search's Optuna study lives — its "home" — and the per-search file lock that makes "count the
trials, then ask for one" atomic across processes.

- Beside a local SQLite MLflow store: `mlruns/optuna.db` next to `mlflow.db`. The store and its Optuna file
  travel together (copy `mlruns/` and the search comes with it).
- With a tracking server (`http(s)://`): the runs go to the server, the Optuna study stays in the project
  that runs the search, `<project>/mlruns/searches/<server>/optuna.db` (one folder per server, never mixed
  with a local store's searches). A server shares no file, and the search's count-then-ask must be atomic
  across processes, so its state is a local file: resuming, `--workers` and Ray on this machine all see it.
- Any other store (`file:`, `databricks`, …) is refused in one line.

The report reads the trials from here. Optuna is imported inside the functions.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from study.errors import StudyError
from study.store.claims import CLAIMS_DIR
from study.store.connect import STORE_DIR, project_root

OPTUNA_DB = "optuna.db"  # in the search home: every search of the store, one Optuna study each
SERVER_HOMES = "searches"  # <project>/mlruns/searches/<server>/: the searches of runs on a tracking server
LOCK_TIMEOUT_S = 60  # SQLite busy timeout of the Optuna storage: workers write trials at once
SEARCH_LOCK_POLL_S = 0.01  # how often a process waiting for the search's lock tries it again


def sqlite_store_dir(tracking_uri: str) -> Path:
    """The directory of a local SQLite MLflow store (StudyError for any other store)."""
    if not tracking_uri.startswith("sqlite:///"):
        raise StudyError(f"{tracking_uri!r} is not a local SQLite MLflow store")
    return Path(tracking_uri.removeprefix("sqlite:///")).parent


def is_server(tracking_uri: str) -> bool:
    return tracking_uri.startswith(("http://", "https://"))


def search_home(tracking_uri: str, start: str | os.PathLike | None = None) -> Path:
    """The folder of the store's searches (see the module docstring); `start`: the study file's folder, for the
    project of a tracking server's searches. StudyError, naming what to use, for a store that can hold none."""
    if tracking_uri.startswith("sqlite:///"):
        return sqlite_store_dir(tracking_uri)
    if is_server(tracking_uri):
        server = re.sub(r"[^A-Za-z0-9.-]+", "_", tracking_uri.split("://", 1)[1]).strip("_")
        return project_root(start) / STORE_DIR / SERVER_HOMES / server
    raise StudyError(
        f"a search keeps its Optuna study beside a local SQLite MLflow store or, for a tracking server, in the "
        f"project; {tracking_uri!r} is neither (use --store sqlite:///PATH/mlflow.db or --store http://HOST:PORT)"
    )


def optuna_url(home: Path) -> str:
    """The Optuna storage URL of a search home: sqlite:///<home>/optuna.db."""
    return f"sqlite:///{home / OPTUNA_DB}"


def storage(home: Path):
    """Optuna's RDB storage of the home, patient with SQLite's write lock (several workers write at once)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would drown the progress bar
    return optuna.storages.RDBStorage(optuna_url(home), engine_kwargs={"connect_args": {"timeout": LOCK_TIMEOUT_S}})


def open_study(home: Path, name: str, directions: list[str], sampler: Any = None, pruner: Any = None):
    """The search's Optuna study, created on first use (samplers and pruners are not stored: pass them);
    `directions`: "maximize" or "minimize" per objective (SearchConfig.objectives)."""
    import optuna

    home.mkdir(parents=True, exist_ok=True)  # a server's search home is made by the first run that writes
    return optuna.create_study(
        storage=storage(home),
        study_name=name,
        directions=directions,  # type: ignore[arg-type]  # "maximize" or "minimize" each
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def has_study(home: Path, name: str) -> bool:
    """Whether the home holds the Optuna study `name` (without creating anything)."""
    return find_optuna_study(home, name) is not None


def find_optuna_study(home: Path, name: str):
    """An existing search's Optuna study, for reading (the report); None when the home has none by that name."""
    import optuna

    if not (home / OPTUNA_DB).exists():
        return None
    try:
        return optuna.load_study(study_name=name, storage=storage(home))
    except KeyError:
        return None


@contextmanager
def search_lock(home: Path, name: str) -> Iterator[None]:
    """Hold the search's exclusive lock (blocking): one process at a time counts trials and asks for one.

    An OS file lock, as the per-cell claims (claims.try_lock): the OS drops it when its holder dies,
    `kill -9` included.
    """
    from filelock import FileLock

    folder = home / CLAIMS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    lock = FileLock(folder / f"search-{name}.lock", thread_local=False)
    lock.acquire(poll_interval=SEARCH_LOCK_POLL_S)
    try:
        yield
    finally:
        lock.release()
