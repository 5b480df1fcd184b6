"""Reliability: resume after kill -9 at several points.

Fault injection runs `study run` in a subprocess and SIGKILLs it: from outside while a cell trains, or
from inside at exact points of the runner (the library's fault points, study/execution/faults.py, armed
through STUDY_FAULTS by tests/support/faults.py), then resumes and checks the store run by run, on real tiny
MNIST subsets (STUDY_DATA_DIR) and a real MLflow SQLite store.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from contextlib import closing
from pathlib import Path

import pytest

from study.check.validated_study import load_study
from study.plan.grid import expand
from tests.support.faults import (
    BEFORE_CELLS,
    CHILD_TIMEOUT_S,
    FAULT_CELLS,
    FAULT_EVAL_EVERY,
    FAULT_ITERATIONS,
    FAULT_STUDY,
    SLOW_CHUNKS,
    after_cell,
    assert_whole,
    cell_states,
    start_study,
)
from tests.support.runs import DATA_ENV, Runs, cli_run, prepare_store

# --- shared helpers -----------------------------------------------------------------------------


def snapshot(db: Path, run_id: str) -> tuple:
    """Everything the store holds about a run (status, end time, every metric point, tag and param)."""
    with closing(sqlite3.connect(db, timeout=30)) as con:
        info = con.execute("select status, end_time from runs where run_uuid = ?", (run_id,)).fetchone()
        metrics = con.execute(
            "select key, step, value, timestamp from metrics where run_uuid = ? order by key, step, timestamp",
            (run_id,),
        ).fetchall()
        tags = con.execute("select key, value from tags where run_uuid = ? order by key", (run_id,)).fetchall()
        params = con.execute("select key, value from params where run_uuid = ? order by key", (run_id,)).fetchall()
    return info, metrics, tags, params


# --- crash and resume: kill -9 at several points ----------------------------------------------


def wait_for(proc: subprocess.Popen, ready, what: str, timeout: float = CHILD_TIMEOUT_S) -> None:
    """Poll until `ready()`; fail if the process ends or time runs out first."""
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"study run ended (rc {proc.returncode}) before {what}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill_externally(point: str, root: Path, proc: subprocess.Popen) -> None:
    """SIGKILL from outside once the store shows the state `point` names."""
    db = root / "mlruns" / "mlflow.db"
    if point == "store-creation":  # MLflow is still migrating the schema of the new stores' template
        wait_for(proc, lambda: any((root / "cache").rglob("*.db.*.new")), "the template's draft to appear")
        time.sleep(0.3)
    elif point == "mid-cell":  # a cell run is RUNNING and has logged part of its metrics
        wait_for(
            proc,
            lambda: any(s == "RUNNING" and 0 < n < FAULT_ITERATIONS for _, s, n in cell_states(db)),
            "a RUNNING cell with part of its metrics",
        )
    proc.send_signal(signal.SIGKILL)


# id -> (the fault points armed (STUDY_FAULTS) or None, whether the test kills it from outside)
KILL_POINTS = {
    "store-creation": (None, True),
    "before-cells": (BEFORE_CELLS, False),
    "mid-cell": (SLOW_CHUNKS, True),
    "after-cell-2": (after_cell(2), False),
}


@pytest.mark.parametrize("point", KILL_POINTS, ids=KILL_POINTS)
def test_kill_9_then_resume(point, tmp_path, monkeypatch, mnist_dir, blank_db, capsys):
    root = tmp_path
    if point != "store-creation":
        prepare_store(root, blank_db)
    study = root / "fault.yaml"
    study.write_text(FAULT_STUDY, encoding="utf-8")
    db = root / "mlruns" / "mlflow.db"

    faults, from_outside = KILL_POINTS[point]
    proc = start_study(root, study, mnist_dir, faults, tag="killed")
    if from_outside:
        kill_externally(point, root, proc)
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL, (root / "killed.err").read_text()[-2000:]

    runs = Runs(root, "fault")  # (opening a missing store would create it: look only if it is there)
    at_kill = {r.info.run_id: r for r in runs.all("cell") + runs.all("parent")} if db.exists() else {}
    finished = {i: snapshot(db, i) for i, r in at_kill.items() if r.info.status == "FINISHED"}
    dangling = {i: snapshot(db, i) for i, r in at_kill.items() if r.info.status == "RUNNING"}
    expect_at_kill(point, runs, at_kill)
    for run in at_kill.values():  # no half-FINISHED run: FINISHED means every point and artifact is there
        if run.info.status == "FINISHED" and run.data.tags["study.role"] == "cell":
            assert_whole(runs, run, FAULT_ITERATIONS, FAULT_EVAL_EVERY)

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    monkeypatch.setenv("XDG_CACHE_HOME", str(root / "cache"))  # the killed run's cache
    capsys.readouterr()
    assert cli_run(study) == 0
    err = capsys.readouterr().err
    if dangling:
        assert f"marked {len(dangling)} run(s) left RUNNING by a dead process as KILLED" in err

    for run_id, before in dangling.items():  # left RUNNING: now KILLED with the reason, its metrics kept
        run = runs.client.get_run(run_id)
        assert run.info.status == "KILLED" and "ended without closing the run" in run.data.tags["study.failure"]
        assert snapshot(db, run_id)[1] == before[1]
    for run_id, before in finished.items():  # what was FINISHED is untouched
        assert snapshot(db, run_id) == before
    by_hash = runs.finished_by_hash()
    cells = expand(load_study(study))
    assert set(by_hash) == {c.config_hash for c in cells}
    assert all(len(v) == 1 for v in by_hash.values()), "a cell FINISHED twice"
    for (only,) in by_hash.values():
        assert_whole(runs, only, FAULT_ITERATIONS, FAULT_EVAL_EVERY)
    assert runs.statuses("cell").get("RUNNING", 0) == 0 and runs.statuses("parent").get("RUNNING", 0) == 0
    manifest = runs.manifest(runs.latest_parent().info.run_id)
    assert [m["config_hash"] for m in manifest] == [c.config_hash for c in cells]
    assert [m["run_id"] for m in manifest] == [by_hash[c.config_hash][0].info.run_id for c in cells]
    assert not list((root / "mlruns").glob("mlflow.db.*")), "a store draft was left behind"
    assert not list((root / "cache").rglob("*.new*")), "a template draft was left behind"
    print(
        f"{point}: at the kill: cells {count(at_kill, 'cell')}, parents {count(at_kill, 'parent')}; "
        f"after the resume: cells {runs.statuses('cell')}, parents {runs.statuses('parent')}"
    )


def count(runs: dict, role: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in runs.values():
        if r.data.tags.get("study.role") == role:
            out[r.info.status] = out.get(r.info.status, 0) + 1
    return out


def expect_at_kill(point: str, runs: Runs, at_kill: dict) -> None:
    """The store holds what the kill point promises (so each point tests what it says)."""
    cells, parents = count(at_kill, "cell"), count(at_kill, "parent")
    if point == "store-creation":
        assert not at_kill  # killed while migrating: no run can exist yet
    elif point == "before-cells":
        assert cells == {} and parents == {"RUNNING": 1}
        parent = next(iter(at_kill.values()))
        assert {a.path for a in runs.client.list_artifacts(parent.info.run_id)} == {"study.yaml", "requirements.txt"}
    elif point == "mid-cell":  # one or two cells RUNNING: a finished cell's end may still be queued
        assert cells.get("RUNNING", 0) >= 1 and parents == {"RUNNING": 1}
        running = [r for r in at_kill.values() if r.info.status == "RUNNING" and r.data.tags["study.role"] == "cell"]
        assert any(runs.steps(r.info.run_id, "train_loss") for r in running)
    else:
        assert cells == {"FINISHED": 2} and parents == {"RUNNING": 1}


# --- SIGTERM: what `timeout`, Slurm, systemd and `docker stop` send ------------------------------------


def test_sigterm_mid_cell_ends_like_ctrl_c_and_a_rerun_finishes(tmp_path, monkeypatch, mnist_dir, blank_db, capsys):
    """SIGTERM while a cell trains: exit 143, no run left RUNNING (the cell and the parent KILLED, with the
    reason), the training process gone with the driver; the next `study run` trains what is missing."""
    import psutil

    root = tmp_path
    prepare_store(root, blank_db)
    study = root / "fault.yaml"
    study.write_text(FAULT_STUDY, encoding="utf-8")
    db = root / "mlruns" / "mlflow.db"
    proc = start_study(root, study, mnist_dir, SLOW_CHUNKS, tag="termed")
    wait_for(
        proc,
        lambda: any(s == "RUNNING" and 0 < n < FAULT_ITERATIONS for _, s, n in cell_states(db)),
        "a RUNNING cell with part of its metrics",
    )
    children = psutil.Process(proc.pid).children(recursive=True)
    assert children, "the training process"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(CHILD_TIMEOUT_S) == 143, (root / "termed.err").read_text()[-2000:]
    _, alive = psutil.wait_procs(children, timeout=30)
    assert not alive, f"left running after SIGTERM: {alive}"
    runs = Runs(root, "fault")
    assert "RUNNING" not in runs.statuses("cell") and runs.statuses("parent") == {"KILLED": 1}
    killed = [r for r in runs.all("cell") if r.info.status == "KILLED"]
    assert killed and all(r.data.tags.get("study.failure") for r in killed)

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    assert cli_run(study) == 0
    by_hash = runs.finished_by_hash()
    assert len(by_hash) == len(expand(load_study(study))) and all(len(v) == 1 for v in by_hash.values())
    for (only,) in by_hash.values():
        assert_whole(runs, only, FAULT_ITERATIONS, FAULT_EVAL_EVERY)


def test_sigterm_while_a_trained_cell_is_being_closed_keeps_it_finished(
    tmp_path, monkeypatch, mnist_dir, blank_db, capsys
):
    """SIGTERM after a cell's last point, while its run is being closed: that cell still ends FINISHED with
    everything it logs, the study stops there (exit 143, parent KILLED) and a rerun does not train it again."""
    root = tmp_path
    prepare_store(root, blank_db)
    study = root / "fault.yaml"
    study.write_text(FAULT_STUDY, encoding="utf-8")
    proc = start_study(root, study, mnist_dir, "closing=term", tag="closing")
    assert proc.wait(CHILD_TIMEOUT_S) == 143, (root / "closing.err").read_text()[-2000:]
    runs = Runs(root, "fault")
    assert runs.statuses("parent") == {"KILLED": 1} and runs.statuses("cell") == {"FINISHED": 1}
    (first,) = runs.all("cell")
    assert_whole(runs, first, FAULT_ITERATIONS, FAULT_EVAL_EVERY)
    before = snapshot(root / "mlruns" / "mlflow.db", first.info.run_id)

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    assert cli_run(study) == 0
    by_hash = runs.finished_by_hash()
    assert len(by_hash) == FAULT_CELLS and all(len(v) == 1 for v in by_hash.values())
    assert snapshot(root / "mlruns" / "mlflow.db", first.info.run_id) == before  # not trained again
