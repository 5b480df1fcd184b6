"""Fixtures of the tests of study/store/: real MLflow SQLite stores, copied from the blank one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest


@pytest.fixture
def blank_store(tmp_cwd: Path, blank_db: Path):
    """The default store of tmp_cwd (./mlruns/mlflow.db, a copy of the blank store), opened as a `Store`."""
    from study.store.runs import Store

    (tmp_cwd / "mlruns").mkdir()
    shutil.copy(blank_db, tmp_cwd / "mlruns" / "mlflow.db")
    return Store()
