"""Fixtures of the integration tests of study/execution/: stores filled by real `study run`s of tiny
studies, and a project directory with a blank store."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.runs import DATA_ENV, SKIP_STUDY, STUDY, Runs, SkipStore, Trained, cli_run, prepare_store, study_text


@pytest.fixture(scope="package")
def trained(tmp_path_factory, mnist_dir) -> Trained:
    """Run STUDY once into a fresh default store (./mlruns of a temporary directory), for the package:
    test_runner.py adds runs beside the first ones, test_cell.py reads them."""
    from mlflow.tracking import MlflowClient

    from study.check.validated_study import load_study
    from study.execution.driver import run_study
    from study.execution.options import RunOptions
    from study.plan.grid import expand

    root = tmp_path_factory.mktemp("e2e")
    path = root / "e2e.yaml"
    path.write_text(study_text(STUDY, mnist_dir), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        study = load_study(path)
        result = run_study(study, RunOptions(progress=False))
    client = MlflowClient(result.tracking_uri)
    return Trained(root, path, expand(study), result, client, client.get_experiment_by_name("e2e").experiment_id)


@pytest.fixture
def in_store(trained, monkeypatch) -> Trained:
    """Work inside the trained store's directory (for tests that run the study again)."""
    monkeypatch.chdir(trained.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return trained


@pytest.fixture(scope="session")
def skip_trained(tmp_path_factory, mnist_dir, blank_db) -> Path:
    """One `study run` of SKIP_STUDY, once per test process; never written to again (see `skip_store`)."""
    root = tmp_path_factory.mktemp("skip-trained")
    prepare_store(root, blank_db)
    path = root / "skip.yaml"
    path.write_text(SKIP_STUDY, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv(DATA_ENV, str(mnist_dir))
        assert cli_run(path) == 0
    return root


@pytest.fixture(scope="module")
def skip_store(tmp_path_factory, skip_trained) -> SkipStore:
    """A copy of the SKIP_STUDY store (`skip_trained`) of the module's own; the tests add runs and count
    the new ones."""
    root = Path(shutil.copytree(skip_trained, tmp_path_factory.mktemp("skip") / "project"))
    runs = Runs(root, "skipdone")
    first = sorted(runs.all(), key=lambda r: r.info.run_name)
    assert [r.info.status for r in first] == ["FINISHED", "FINISHED"]
    return SkipStore(root, root / "skip.yaml", runs, first)


@pytest.fixture
def in_skip_store(skip_store, monkeypatch, mnist_dir) -> SkipStore:
    monkeypatch.chdir(skip_store.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    return skip_store


@pytest.fixture
def project(tmp_path, monkeypatch, mnist_dir, blank_db) -> Path:
    """tmp_path as the working directory with a blank default store and STUDY_DATA_DIR set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    prepare_store(tmp_path, blank_db)
    return tmp_path
