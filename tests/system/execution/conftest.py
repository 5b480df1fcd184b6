"""Fixtures of the system tests of study/execution/: a real `mlflow server` per test."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracking_server import free_port, launch_server, stop_server


@pytest.fixture
def server(tmp_path: Path, blank_db: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on a copy of the blank store; yields (its URI, its SQLite file)."""
    db = Path(shutil.copy(blank_db, tmp_path / "server.db"))
    port = free_port()
    proc = launch_server(tmp_path, db, port)
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        stop_server(proc)
