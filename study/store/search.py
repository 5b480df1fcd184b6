"""Where a search's Optuna study lives: an Optuna RDB (SQLite) file beside the MLflow database, and the
per-search file lock that makes "count the trials, then ask for one" atomic across processes.

The store and its Optuna file travel together (copy `mlruns/` and the search comes with it); the report
reads the trials from here. Optuna is imported inside the functions.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from study.errors import StudyError
from study.store.claims import CLAIMS_DIR

OPTUNA_DB = "optuna.db"  # beside mlflow.db: every search of the store, one Optuna study each
LOCK_TIMEOUT_S = 60  # SQLite busy timeout of the Optuna storage: workers write trials at once


def store_dir(tracking_uri: str) -> Path:
    """The directory of a local SQLite MLflow store; a search needs one (StudyError otherwise)."""
    if not tracking_uri.startswith("sqlite:///"):
        raise StudyError(
            f"a search keeps its Optuna study beside a local SQLite MLflow store; {tracking_uri!r} is not one "
            "(unset MLFLOW_TRACKING_URI or point it to sqlite:///PATH/mlflow.db)"
        )
    return Path(tracking_uri.removeprefix("sqlite:///")).parent


def optuna_url(tracking_uri: str) -> str:
    """The Optuna storage URL of the store: sqlite:///<store dir>/optuna.db."""
    return f"sqlite:///{store_dir(tracking_uri) / OPTUNA_DB}"


def storage(tracking_uri: str):
    """Optuna's RDB storage of the store, patient with SQLite's write lock (several workers write at once)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)  # a line per trial would drown the progress bar
    return optuna.storages.RDBStorage(
        optuna_url(tracking_uri), engine_kwargs={"connect_args": {"timeout": LOCK_TIMEOUT_S}}
    )


def open_study(tracking_uri: str, name: str, direction: str, sampler: Any = None, pruner: Any = None):
    """The search's Optuna study, created on first use (samplers and pruners are not stored: pass them)."""
    import optuna

    return optuna.create_study(
        storage=storage(tracking_uri),
        study_name=name,
        direction=direction,  # type: ignore[arg-type]  # "maximize" or "minimize" (SearchConfig.goal)
        sampler=sampler,
        pruner=pruner,
        load_if_exists=True,
    )


def load_study(tracking_uri: str, name: str):
    """An existing search's Optuna study, for reading (the report); None when the store has none by that name."""
    import optuna

    if not (store_dir(tracking_uri) / OPTUNA_DB).exists():
        return None
    try:
        return optuna.load_study(study_name=name, storage=storage(tracking_uri))
    except KeyError:
        return None


@contextmanager
def search_lock(tracking_uri: str, name: str) -> Iterator[None]:
    """Hold the search's exclusive lock (blocking): one process at a time counts trials and asks for one.

    An OS file lock, as the per-cell claims: the kernel drops it when its holder dies, `kill -9` included.
    """
    import fcntl

    folder = store_dir(tracking_uri) / CLAIMS_DIR
    folder.mkdir(exist_ok=True)
    fd = os.open(folder / f"search-{name}.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
