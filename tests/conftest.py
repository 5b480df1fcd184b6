"""Shared fixtures: the real MNIST directory, throwaway MLflow stores (fresh, blank, hand-built), and
study files in tmp.

Import-light on purpose: nothing here imports TensorFlow, so tests that never train stay fast. The
test doubles live in tests/doubles.py (`from tests.doubles import Recorder`), the hand-built store
in tests/handbuilt.py.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# Hypothesis profiles: `ci` (the default) tries a bounded number of examples; `fuzz` is the larger
# documented run (docs/reliability.md): STUDY_HYPOTHESIS_PROFILE=fuzz pytest tests/test_fuzz.py.
# No example database is written into the repository (database=None).
settings.register_profile(
    "ci", max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("STUDY_HYPOTHESIS_PROFILE", "ci"))

# A test writes its stores and reports under tmp, never into the checkout: a study file in configs/
# has the repository as its project, so running it without a store of its own would write here.
REPO = Path(__file__).resolve().parents[1]
TOOL_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache", "test-output"}
REPO_ENTRIES = {p.name for p in REPO.iterdir()}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a test left a file or folder (a store, reports, …) in the repository."""
    made = sorted({p.name for p in REPO.iterdir()} - REPO_ENTRIES - TOOL_CACHES)
    if made:
        print(f"\nerror: the tests wrote {', '.join(made)} into the repository ({REPO})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


DATA_DIR_ENV = "STUDY_DATA_DIR"  # where the MNIST IDX files are; tests that need them skip without it
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def find_mnist_dir() -> Path | None:
    """The directory named by STUDY_DATA_DIR when it holds the four IDX files (raw or .gz)."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value)
    if all((path / name).is_file() or (path / f"{name}.gz").is_file() for name in IDX_FILES):
        return path
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX directory from STUDY_DATA_DIR; skips the test when it is not there."""
    path = find_mnist_dir()
    if path is None:
        pytest.skip(f"{DATA_DIR_ENV} is unset or does not hold the four MNIST IDX files")
    return path


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path with no MLFLOW_TRACKING_URI, so the default `mlruns/` store would land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def store(tmp_cwd: Path):
    """A fresh default MLflow store (SQLite under tmp_path/mlruns), opened as `study.store.runs.Store`."""
    from study.store.runs import Store

    yield Store()


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """A helper that writes study YAML text to tmp_path/<name> and returns the file's path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def blank_db(tmp_path_factory) -> Path:
    """An empty, fully migrated MLflow SQLite store, made once: migrating a new store costs seconds."""
    from study.store.runs import Store

    path = tmp_path_factory.mktemp("blank") / "mlflow.db"
    Store(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="module")
def hand_store(tmp_path_factory, blank_db) -> dict:
    """The hand-built store of tests/handbuilt.py (studies toy, bn, reps, empty, broken), one per module."""
    from tests.handbuilt import build_store

    root = tmp_path_factory.mktemp("store")
    shutil.copy(blank_db, root / "mlflow.db")
    return build_store(root)


@pytest.fixture(scope="module")
def toy_summary(hand_store):
    """The toy study's per-run table and per-cell summary, read from the latest parent."""
    from study.analysis.statistics import run_stats, summarize
    from study.store.reader import find_experiment, find_parent, load_study_runs

    client = hand_store["client"]
    experiment = find_experiment(client, "toy")
    study = load_study_runs(client, experiment, find_parent(client, experiment))
    per_run = run_stats(study)
    return study, per_run, summarize(per_run, study.axes)


@pytest.fixture(scope="module")
def reps_context(hand_store):
    """The reps study's per-run table, summary and axes."""
    from study.analysis.statistics import run_stats, summarize
    from study.store.reader import find_experiment, find_parent, load_study_runs

    client = hand_store["client"]
    experiment = find_experiment(client, "reps")
    study = load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc", "grad_norm/*"))
    per_run = run_stats(study)
    return study, per_run, summarize(per_run, study.axes)
