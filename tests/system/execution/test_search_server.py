"""A search whose runs go to a real MLflow tracking server (`mlflow server` on 127.0.0.1, the fixture of
tests/system/execution/test_tracking_server.py): the trials in the project's `mlruns/searches/<server>/optuna.db`, the
runs on the server; `kill -9` before a tell resumes without a duplicate, the report finds the search, and the same search from another project is refused in one line.

The server serves the session (`server`, conftest.py): each test runs a search of its own name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from study import cli
from study.store.contract import Tag
from tests.support.runs import DATA_ENV, cli_run
from tests.support.searches import BEFORE_TELL_1, FAULTS_ENV, search_text

CHILD_TIMEOUT_S = 300
# No trained model is kept: the report of the search then loads none into TensorFlow (~18 CPU-seconds
# in its subprocess); what these tests check is the search, its trials and runs, not the models.
NO_MODEL = "tracking: {keep_model: none}\n"


def home_of(root: Path, uri: str) -> Path:
    """Where the search of a project keeps its Optuna study for the server at `uri`."""
    return root / "mlruns" / "searches" / uri.removeprefix("http://").replace(":", "_")


def trials_in(home: Path) -> list:
    import optuna

    storage = f"sqlite:///{home / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def cell_runs(uri: str, name: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    return client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell'") if exp else []


@pytest.fixture
def project(request, tmp_path, monkeypatch, mnist_dir, server):
    """A project folder (a pyproject.toml marks it) with the search's study file (NO_MODEL), the study named after the
    test (`search_<n>`: its own experiment on the shared server); MLFLOW_TRACKING_URI: the server. Yields
    (the folder, the server's URI, the study's name)."""
    uri, _ = server
    name = f"searchy_{zlib.crc32(request.node.name.encode()):08x}"
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text("", encoding="utf-8")
    text = search_text(3, extra=NO_MODEL).replace("study: searchy", f"study: {name}")
    (root / "search.yaml").write_text(text, encoding="utf-8")
    monkeypatch.chdir(root)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    return root, uri, name


def test_a_search_against_a_tracking_server_resumes_after_kill_9_and_reports(project, mnist_dir, capsys):
    root, uri, name = project
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, DATA_ENV: str(mnist_dir)}
    cmd = [sys.executable, "-m", "study.cli", "run", "search.yaml", "--quiet"]
    with open(root / "killed.err", "wb") as err:  # SIGKILLed by the fault point just before trial 1's tell
        proc = subprocess.run(
            cmd,
            cwd=root,
            env={**env, FAULTS_ENV: BEFORE_TELL_1},
            stdout=subprocess.DEVNULL,
            stderr=err,
            timeout=CHILD_TIMEOUT_S,
        )
    assert proc.returncode == -signal.SIGKILL, (root / "killed.err").read_text()[-2000:]  # just before a tell
    home = home_of(root, uri)
    assert (home / "optuna.db").is_file() and not (root / "mlruns" / "mlflow.db").exists()  # the runs: on the server

    capsys.readouterr()
    assert cli_run(root / "search.yaml") == 0
    assert "1 trial(s) left RUNNING by a dead process finished from their runs" in capsys.readouterr().err
    trials = trials_in(home)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3 and not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    runs = cell_runs(uri, name)
    finished = [r for r in runs if r.info.status == "FINISHED"]
    hashes = [r.data.tags[Tag.CONFIG_HASH] for r in finished]
    assert len(hashes) == len(set(hashes)) == 3, "a configuration was trained to the end twice"
    by_id = {r.info.run_id: r for r in finished}
    for t in complete:
        run = by_id[t.user_attrs["study.runs"]["0"]]
        assert t.value == run.data.metrics["best_test_acc"] and run.data.tags[Tag.TRIAL] == str(t.number)
    assert len({t.user_attrs["study.process"] for t in trials}) == 2  # the killed run, then this one

    # the report finds the search from the project (in a process of its own: drawing initialises TensorFlow,
    # which a later in-process training of another test could no longer configure)
    report = subprocess.run(
        [sys.executable, "-m", "study.cli", "report", name], cwd=root, env=env, capture_output=True, text=True
    )
    assert report.returncode == 0, report.stderr[-2000:]
    (page,) = (root / "reports").rglob("report.html")
    text = page.read_text(encoding="utf-8")
    assert "<h2>Search</h2>" in text and "Best trial" in text


def test_the_same_search_from_another_project_is_refused_in_one_line_with_nothing_written(project, tmp_path, capsys):
    root, uri, name = project
    assert cli_run(root / "search.yaml", "--set", "search.trials=1") == 0
    before = {r.info.run_id for r in cell_runs(uri, name)}
    assert len(before) == 1
    other = tmp_path / "elsewhere"
    other.mkdir()
    (other / "pyproject.toml").write_text("", encoding="utf-8")
    (other / "search.yaml").write_text((root / "search.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    os.chdir(other)
    capsys.readouterr()
    assert cli.main(["run", str(other / "search.yaml"), "--quiet", "--set", "search.trials=1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("store: "), lines  # the announced store, then the refusal
    assert lines[1].startswith(f"error: search {name}-") and "started from another project or machine" in lines[1]
    assert not (other / "mlruns").exists()
    assert {r.info.run_id for r in cell_runs(uri, name)} == before
