"""A new SQLite store made whole or not at all (study/store/creation.py), on real stores in tmp: a whole
MLflow database, existing stores and live drafts kept, the per-version template and its failures."""

from __future__ import annotations

import os
import shutil
import sqlite3
from contextlib import closing
from pathlib import Path

from study.store.creation import build_mlflow_schema, create_sqlite_store, template_path


def dead_pid() -> int:
    """A pid no process can have: one above the kernel's largest."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def tables(db: Path) -> set[str]:
    with closing(sqlite3.connect(db)) as con:
        return {row[0] for row in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_create_sqlite_store_makes_a_whole_mlflow_database(tmp_path):
    db = tmp_path / "deep" / "store" / "mlflow.db"
    stale = db.with_name(f"mlflow.db.{dead_pid()}.new")  # the draft of a creator that was killed
    db.parent.mkdir(parents=True)
    stale.write_bytes(b"half a schema")
    create_sqlite_store(f"sqlite:///{db}")
    assert {"experiments", "runs", "metrics", "tags", "params", "alembic_version"} <= tables(db)
    assert sorted(p.name for p in db.parent.iterdir()) == ["mlflow.db"]  # no draft left, the stale one gone


def test_create_sqlite_store_keeps_an_existing_store_and_live_drafts(blank_db, tmp_path):
    db = Path(shutil.copy(blank_db, tmp_path / "mlflow.db"))
    before = db.read_bytes()
    live = tmp_path / f"mlflow.db.{os.getpid()}.new"  # a draft this (live) process could be writing
    live.write_bytes(b"draft")
    create_sqlite_store(f"sqlite:///{db}")
    assert db.read_bytes() == before
    assert live.read_bytes() == b"draft"


def test_create_sqlite_store_leaves_other_stores_alone(tmp_cwd):
    create_sqlite_store("sqlite:///:memory:")
    create_sqlite_store("http://127.0.0.1:5000")
    assert list(tmp_cwd.iterdir()) == []


def schema(db: Path) -> list[tuple]:
    """Every table, index and trigger of a database with its SQL's lines (sorted: MLflow's own migrations
    order a table's constraints differently from one process to the next), and the migration it is at."""
    with closing(sqlite3.connect(db)) as con:
        objects = con.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
        lines = [
            (kind, name, sorted(line.strip().rstrip(",") for line in (sql or "").splitlines()))
            for kind, name, sql in objects
        ]
        return [*lines, *con.execute("SELECT version_num FROM alembic_version").fetchall()]


def default_experiment(db: Path) -> tuple:
    with closing(sqlite3.connect(db)) as con:
        return con.execute(
            "SELECT name, artifact_location, lifecycle_stage, workspace FROM experiments WHERE experiment_id = 0"
        ).fetchone()


def test_a_store_copied_from_the_template_is_the_database_mlflow_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("first", "second", "reference"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "first")
    create_sqlite_store(f"sqlite:///{tmp_path / 'first' / 'mlflow.db'}")  # builds the template
    assert template_path().is_file() and template_path().is_relative_to(tmp_path / "cache")
    monkeypatch.chdir(tmp_path / "second")
    create_sqlite_store(f"sqlite:///{tmp_path / 'second' / 'mlflow.db'}")  # a copy of it
    monkeypatch.chdir(tmp_path / "reference")
    build_mlflow_schema(tmp_path / "reference" / "mlflow.db")  # MLflow's own, built here
    for name in ("first", "second"):
        db = tmp_path / name / "mlflow.db"
        assert schema(db) == schema(tmp_path / "reference" / "mlflow.db")
        assert default_experiment(db)[1] == str(tmp_path / name / "mlruns" / "0")  # as MLflow would have set it there
    assert (
        default_experiment(tmp_path / "second" / "mlflow.db")[::2]
        == default_experiment(tmp_path / "reference" / "mlflow.db")[::2]
    )
    assert sorted(p.name for p in (tmp_path / "second").iterdir()) == ["mlflow.db"]


def test_a_broken_template_is_rebuilt_not_copied(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    template_path().parent.mkdir(parents=True)
    template_path().write_bytes(b"half a schema")  # e.g. a disk that filled up while it was written
    create_sqlite_store(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert {"experiments", "runs", "metrics", "alembic_version"} <= tables(tmp_path / "mlflow.db")
    assert {"experiments", "runs", "metrics", "alembic_version"} <= tables(template_path())


def test_an_unwritable_cache_still_gives_a_whole_store(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("a file where the cache directory should be")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    create_sqlite_store(f"sqlite:///{tmp_path / 'store' / 'mlflow.db'}")
    assert {"experiments", "runs", "metrics", "alembic_version"} <= tables(tmp_path / "store" / "mlflow.db")
    assert sorted(p.name for p in (tmp_path / "store").iterdir()) == ["mlflow.db"]
