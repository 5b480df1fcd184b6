"""Where the store is and how it is opened (study/store/connect.py), on real SQLite stores in tmp: the
tracking-URI choice, reading without creating, atomic creation, a moved store re-pointed, retries."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from study.errors import StudyError
from study.store.connect import (
    artifact_location,
    default_tracking_uri,
    project_root,
    repoint_moved_store,
    resolve_tracking_uri,
    retry,
    tracking_uri,
)
from study.store.runs import Store

# --- the tracking URI -----------------------------------------------------------------------------


def test_default_is_sqlite_under_mlruns_and_creates_nothing(tmp_cwd):
    assert default_tracking_uri() == f"sqlite:///{tmp_cwd / 'mlruns' / 'mlflow.db'}"
    assert not (tmp_cwd / "mlruns").exists()


def test_mlflow_tracking_uri_wins(tmp_cwd, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/store.db")
    assert default_tracking_uri() == tracking_uri() == "sqlite:////elsewhere/store.db"
    assert not (tmp_cwd / "mlruns").exists()  # the default directory is not made for another store


def test_tracking_uri_for_writing_makes_the_mlruns_directory(tmp_cwd):
    assert tracking_uri() == default_tracking_uri()
    assert (tmp_cwd / "mlruns").is_dir()
    assert not (tmp_cwd / "mlruns" / "mlflow.db").exists()  # the directory only: the database comes later


def test_reading_a_missing_store_is_one_line_and_creates_nothing(tmp_cwd):
    with pytest.raises(StudyError, match=r"^no MLflow store at .*mlruns/mlflow\.db: run a study first") as caught:
        resolve_tracking_uri(None)
    assert "\n" not in str(caught.value)
    with pytest.raises(StudyError, match="absent.db"):
        resolve_tracking_uri(f"sqlite:///{tmp_cwd / 'absent.db'}")
    assert list(tmp_cwd.iterdir()) == []


def test_reading_resolves_an_existing_or_non_file_store(blank_store, tmp_cwd):
    assert resolve_tracking_uri(None) == blank_store.uri == default_tracking_uri()
    assert resolve_tracking_uri(blank_store.uri) == blank_store.uri
    assert resolve_tracking_uri("sqlite:///:memory:") == "sqlite:///:memory:"
    assert resolve_tracking_uri("http://127.0.0.1:5000") == "http://127.0.0.1:5000"


def test_artifacts_of_the_default_store_live_beside_it(tmp_cwd, monkeypatch):
    uri = default_tracking_uri()
    assert artifact_location("toy", uri) == (tmp_cwd / "mlruns" / "artifacts" / "toy").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert artifact_location("toy", uri) is None  # a store named by the user: MLflow's own choice


# --- a moved store ------------------------------------------------------------------------------------


def test_a_moved_store_is_repointed_once(blank_store, tmp_cwd, monkeypatch, capsys):
    exp_id = blank_store.experiment_id("moved")
    run_id = blank_store.start_parent(exp_id, "moved", {})
    blank_store.log_text(run_id, "the study as run", "study.yaml")
    blank_store.end(run_id)
    origin = tmp_cwd / "mlruns"
    elsewhere = tmp_cwd / "elsewhere"
    shutil.copytree(origin, elsewhere / "mlruns")
    shutil.rmtree(origin)
    monkeypatch.chdir(elsewhere)
    uri = default_tracking_uri()
    assert uri != blank_store.uri

    assert repoint_moved_store(uri) == ["moved"]
    moved = Store(uri)
    here = (elsewhere / "mlruns" / "artifacts" / "moved").as_uri()
    assert moved.client.get_experiment(exp_id).artifact_location == here
    assert moved.client.get_run(run_id).info.artifact_uri.startswith(here + "/")
    path = moved.client.download_artifacts(run_id, "study.yaml", str(elsewhere))
    assert Path(path).read_text() == "the study as run"
    assert repoint_moved_store(uri) == []  # already its own
    moved.repoint_if_moved()
    assert capsys.readouterr().err == ""  # nothing to say when nothing moved


def test_repoint_leaves_stores_it_cannot_place_alone(blank_store, tmp_cwd):
    assert repoint_moved_store(blank_store.uri) == []  # no artifacts/ yet
    assert repoint_moved_store("http://127.0.0.1:5000") == []
    assert repoint_moved_store(f"sqlite:///{tmp_cwd / 'absent.db'}") == []


def test_repoint_if_moved_says_so_once(blank_store, tmp_cwd, monkeypatch, capsys):
    exp_id = blank_store.experiment_id("moved")
    run_id = blank_store.start_parent(exp_id, "moved", {})
    blank_store.log_text(run_id, "x", "note.txt")
    shutil.copytree(tmp_cwd / "mlruns", tmp_cwd / "copy" / "mlruns")
    monkeypatch.chdir(tmp_cwd / "copy")
    copy = Store()
    copy.repoint_if_moved()
    assert capsys.readouterr().err == "this store was moved here: artifact paths of moved now point to it\n"
    copy.repoint_if_moved()
    assert capsys.readouterr().err == ""


# --- retrying a busy database ---------------------------------------------------------------------------


def test_retry_waits_out_a_locked_database():
    calls = []

    def busy_twice(value, *, scale):
        calls.append(value)
        if len(calls) < 3:
            raise RuntimeError("(sqlite3.OperationalError) database is locked")
        return value * scale

    assert retry(busy_twice, 7, scale=3) == 21
    assert calls == [7, 7, 7]


def test_retry_raises_other_errors_at_once_and_gives_up_in_the_end():
    calls = []

    def broken():
        calls.append(1)
        raise ValueError("no such table: runs")

    with pytest.raises(ValueError, match="no such table"):
        retry(broken)
    assert len(calls) == 1

    def always_busy():
        calls.append(2)
        raise RuntimeError("database is busy")

    with pytest.raises(RuntimeError, match="busy"):
        retry(always_busy, attempts=2)
    assert calls.count(2) == 2


def test_a_tag_write_that_lost_an_insert_race_is_tried_again_other_writes_are_not():
    """Four processes sharing a study's runs view on a tracking server: the server's select-then-insert of
    one experiment tag lets two inserts meet, and the loser sees a unique-key error (seen in CI)."""
    lost = "(sqlite3.IntegrityError) UNIQUE constraint failed: experiment_tags.key, experiment_tags.experiment_id"
    calls = []

    def set_tag_losing_once():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError(lost)
        return "set"

    assert retry(set_tag_losing_once, upsert=True) == "set"
    assert len(calls) == 2
    calls.clear()
    with pytest.raises(RuntimeError, match="UNIQUE constraint"):
        retry(set_tag_losing_once)  # creating a run or an experiment twice is not a repeatable write
    assert len(calls) == 1


# --- one store per project, wherever a command runs from --------------------------------------------


@pytest.fixture
def project_dir(tmp_path, monkeypatch) -> Path:
    """A project (pyproject.toml) with configs/ and notebooks/ folders; no MLFLOW_TRACKING_URI."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    root = tmp_path / "project"
    for sub in ("configs", "notebooks/deep"):
        (root / sub).mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'mine'\n", encoding="utf-8")
    return root


def test_a_sub_folder_reaches_the_projects_store(project_dir, monkeypatch):
    from study.store.lookup import store_uri

    monkeypatch.chdir(project_dir / "notebooks" / "deep")
    expected = f"sqlite:///{project_dir / 'mlruns' / 'mlflow.db'}"
    assert project_root() == project_dir and default_tracking_uri() == expected
    assert store_uri(None, create=True) == expected  # what a notebook's study.run(...) / study.runs(...) use
    with pytest.raises(StudyError, match=f"no MLflow store at {project_dir / 'mlruns' / 'mlflow.db'}"):
        store_uri(None)  # reading creates nothing, and names the project's store
    assert not (project_dir / "notebooks" / "deep" / "mlruns").exists()


def test_the_study_files_project_wins_over_the_current_folder(project_dir, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert default_tracking_uri(project_dir / "configs") == f"sqlite:///{project_dir / 'mlruns' / 'mlflow.db'}"
    assert default_tracking_uri() == f"sqlite:///{elsewhere / 'mlruns' / 'mlflow.db'}"


def test_an_existing_store_marks_the_project(tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    (tmp_path / "mlruns").mkdir()
    shutil.copy(Path(__file__), tmp_path / "mlruns" / "mlflow.db")  # any file: only its presence counts
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    assert project_root() == tmp_path


def test_the_search_stops_at_the_temporary_directory(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.chdir(tmp_path)
    assert project_root() == tmp_path  # nothing between here and the temp dir: here, not /tmp or above
    assert Path(tempfile.gettempdir()).resolve() in tmp_path.resolve().parents


def test_explicit_store_wins_over_mlflow_tracking_uri(project_dir, monkeypatch):
    from study.store.connect import use_store

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:////elsewhere/env.db")
    monkeypatch.chdir(project_dir)
    assert default_tracking_uri() == "sqlite:////elsewhere/env.db"
    use_store("sqlite:////elsewhere/explicit.db")
    try:
        assert default_tracking_uri() == tracking_uri() == "sqlite:////elsewhere/explicit.db"
    finally:
        use_store(None)
    assert default_tracking_uri() == "sqlite:////elsewhere/env.db"


def test_every_store_command_says_which_store(project_dir, monkeypatch, capsys):
    from study.cli import main

    monkeypatch.chdir(project_dir / "notebooks")
    assert main(["list"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"store: sqlite:///{project_dir / 'mlruns' / 'mlflow.db'}"
    assert main(["--store", str(project_dir / "other"), "list"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"store: sqlite:///{project_dir / 'other' / 'mlflow.db'}"
    assert main(["report", "nothing"]) == 2  # bad input: the error line alone
    assert capsys.readouterr().err.startswith("error: ")
    assert default_tracking_uri() == f"sqlite:///{project_dir / 'mlruns' / 'mlflow.db'}"  # --store undone


def test_study_run_uses_the_study_files_project(project_dir, tmp_path, monkeypatch, mnist_dir, capsys):
    from study.cli import main

    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))
    study = project_dir / "configs" / "tiny.yaml"
    study.write_text(
        "study: tiny\nbase: {data: {train_size: 100, test_size: 50}, train: {iterations: 10, eval_every: 10}}\n"
        "grid: {model.activation: [relu]}\n",
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    assert main(["run", str(project_dir / "configs" / "missing.yaml"), "--dry-run"]) == 2
    assert capsys.readouterr().err.startswith("error: ")  # bad input: the error line alone
    assert main(["run", str(study), "--dry-run"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[0] == f"store: sqlite:///{project_dir / 'mlruns' / 'mlflow.db'}"
