"""A search resumed after `kill -9` without a duplicate trial: `study run` runs in a subprocess (with a
fault point of the library armed through STUDY_FAULTS, tests/support/searches.py) and is SIGKILLed
mid-trial or between a finished cell and its tell. Both subprocesses start together, once for the module
(each in a folder of its own): the second one's TensorFlow import and trials overlap the first test."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from study.store.contract import Tag
from tests.support.runs import DATA_ENV, Runs, cli_run, prepare_store
from tests.support.searches import (
    BEFORE_TELL_1,
    FAULTS_ENV,
    ITERATIONS,
    SLOW_CHUNKS,
    optuna_trials,
    search_text,
    states,
)

CHILD_TIMEOUT_S = 300


# --- kill -9 and resume -----------------------------------------------------------------------------


def start(root: Path, study: Path, mnist_dir: Path, faults: str) -> subprocess.Popen:
    """`study run STUDY --quiet` in a subprocess with the fault points `faults` (STUDY_FAULTS) armed."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env[DATA_ENV], env[FAULTS_ENV] = str(mnist_dir), faults
    cmd = [sys.executable, "-m", "study.cli", "run", str(study), "--quiet"]
    with open(root / "killed.out", "wb") as out, open(root / "killed.err", "wb") as err:
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=err)


@pytest.fixture(scope="module")
def started(tmp_path_factory, mnist_dir, blank_db) -> dict[str, tuple[Path, Path, subprocess.Popen]]:
    """Both tests' `study run` subprocesses, started at once: per fault point, (root, study file, process).
    `slow` (300 iterations a trial, slow chunks) is killed from outside; `tell` kills itself before trial 1's tell."""
    procs = {}
    for key, iterations, faults in (("slow", 300, SLOW_CHUNKS), ("tell", ITERATIONS, BEFORE_TELL_1)):
        root = tmp_path_factory.mktemp(key)
        prepare_store(root, blank_db)
        study = root / "search.yaml"
        study.write_text(search_text(3, iterations), encoding="utf-8")
        procs[key] = (root, study, start(root, study, mnist_dir, faults))
    yield procs
    for _, _, proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def cell_runs(db: Path) -> list[tuple[str, str, int]]:
    """(status, trial tag, train_loss points) of every cell run, straight from SQLite (cheap to poll)."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        return con.execute(
            "select r.status, (select value from tags t where t.run_uuid = r.run_uuid and t.key = 'study.trial'), "
            "(select count(*) from metrics m where m.run_uuid = r.run_uuid and m.key = 'train_loss') from runs r "
            "where exists (select 1 from tags t where t.run_uuid = r.run_uuid and t.key = 'study.role' "
            "and t.value = 'cell')"
        ).fetchall()


def kill_mid_trial(proc: subprocess.Popen, db: Path, iterations: int) -> None:
    """SIGKILL once one trial FINISHED and the next one's cell has logged part of its metrics."""
    import time

    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while True:
        rows = cell_runs(db)
        if any(s == "FINISHED" for s, _, _ in rows) and any(s == "RUNNING" and 0 < n < iterations for s, _, n in rows):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"study run ended (rc {proc.returncode}) before a trial was half-trained")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)


def assert_whole_search(root: Path, budget: int) -> list:
    """The search holds exactly its budget of complete trials, each with one FINISHED run; no config twice."""
    trials = optuna_trials(root)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == budget and not [t for t in trials if t.state.name == "RUNNING"]
    runs = Runs(root, "searchy")
    finished = [r for r in runs.all() if r.info.status == "FINISHED"]
    hashes = [r.data.tags[Tag.CONFIG_HASH] for r in finished]
    assert len(hashes) == len(set(hashes)) == budget, "a configuration was trained to the end twice"
    by_id = {r.info.run_id: r for r in finished}
    for t in complete:
        run = by_id[t.user_attrs["study.runs"]["0"]]
        assert t.value == run.data.metrics["best_test_acc"]
        assert run.data.tags[Tag.TRIAL_STATE] == "COMPLETE"
    return trials


def test_kill_9_mid_trial_then_resume_requeues_it_and_duplicates_nothing(started, monkeypatch, mnist_dir, capsys):
    (root, study, proc), iterations = started["slow"], 300
    db = root / "mlruns" / "mlflow.db"
    kill_mid_trial(proc, db, iterations)
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL
    before = optuna_trials(root)
    killed = [t for t in before if t.state.name == "RUNNING"]
    assert len(killed) == 1, states(before)
    done_before = {t.number: t.user_attrs["study.runs"] for t in before if t.state.name == "COMPLETE"}

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    capsys.readouterr()
    assert cli_run(study) == 0
    err = capsys.readouterr().err
    assert "marked 2 run(s) left RUNNING by a dead process as KILLED" in err  # its cell and its parent
    assert "search: 0 trial(s) left RUNNING by a dead process finished from their runs, 1 queued again" in err

    trials = assert_whole_search(root, 3)
    assert trials[killed[0].number].state.name == "FAIL"  # the dead one: not an outcome, not counted
    (retry,) = [t for t in trials if t.user_attrs.get("study.retry_of") == killed[0].number]
    assert retry.params == killed[0].params and retry.state.name == "COMPLETE"
    assert {t.number: t.user_attrs["study.runs"] for t in trials if t.number in done_before} == done_before
    runs = Runs(root, "searchy")
    left = [r for r in runs.all() if r.info.status == "KILLED"]
    assert len(left) == 1 and "ended without closing the run" in left[0].data.tags["study.failure"]
    assert runs.statuses("parent").get("RUNNING", 0) == 0


def test_kill_9_between_a_finished_cell_and_its_tell_recovers_the_trial_without_training_it_again(
    started, monkeypatch, mnist_dir, capsys
):
    root, study, proc = started["tell"]
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL, (root / "killed.err").read_text()[-2000:]
    assert [t.state.name for t in optuna_trials(root)] == ["COMPLETE", "RUNNING"]
    finished_before = {r.info.run_id for r in Runs(root, "searchy").all() if r.info.status == "FINISHED"}
    assert len(finished_before) == 2

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    capsys.readouterr()
    assert cli_run(study) == 0
    assert "1 trial(s) left RUNNING by a dead process finished from their runs, 0 queued again" in (
        capsys.readouterr().err
    )
    trials = assert_whole_search(root, 3)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 and trials[1].user_attrs["study.runs"]["0"] in (
        finished_before
    )
