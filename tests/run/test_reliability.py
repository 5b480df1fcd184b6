"""Reliability: skip-done, resume after kill -9, isolated failures, concurrent writers, bad input, safety.

Every claim of docs/reliability.md is checked here on real tiny MNIST subsets (STUDY_DATA_DIR) and a
real MLflow SQLite store. Fault injection runs `study run` in a subprocess and SIGKILLs it: from
outside while a cell trains, or from inside at exact points of the runner (a small harness that
patches one runner function to kill its own process), then resumes and checks the store run by run.
Determinism verified (`study verify`) is in tests/run/test_verify.py.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest

from study import cli
from study.plan.grid import expand
from study.spec.studyfile import load_study
from tests.doubles import Explode
from tests.run.support import CURVES, DATA_ENV, SKIP_STUDY, Runs, SkipStore, cli_run, prepare_store, row_status

CHILD_TIMEOUT_S = 240  # a killed or racing `study run` subprocess on a loaded 2-core machine

# --- shared helpers -----------------------------------------------------------------------------


@pytest.fixture
def project(tmp_path, monkeypatch, mnist_dir, blank_db) -> Path:
    """tmp_path as the working directory with a blank default store and STUDY_DATA_DIR set."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    prepare_store(tmp_path, blank_db)
    return tmp_path


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


def assert_whole(runs: Runs, run, iterations: int, eval_every: int) -> None:
    """A FINISHED cell run holds its full histories, its summary metrics and both artifacts."""
    run_id = run.info.run_id
    assert runs.steps(run_id, "train_loss") == list(range(1, iterations + 1)), run.info.run_name
    for key in CURVES[1:]:
        assert runs.steps(run_id, key) == list(range(0, iterations + 1, eval_every)), (run.info.run_name, key)
    assert {"final_test_acc", "best_test_acc", "final_train_acc", "wall_time_s"} <= set(run.data.metrics)
    assert {a.path for a in runs.client.list_artifacts(run_id)} >= {"config.yaml", "learning_curve.png"}


# --- skip what is done ------------------------------------------------------------------------

# The same cells written another way (axes swapped, values reversed) plus one new value: only tanh is new.
SKIP_STUDY_REORDERED = """\
study: skipdone
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  optimizer.lr: [0.1]
  model.activation: [relu, tanh, sigmoid]
"""


def new_cell_runs(s: SkipStore, before: set[str]) -> list:
    return [r for r in s.runs.all() if r.info.run_id not in before]


@pytest.mark.slow
def test_second_run_trains_nothing_and_says_so(in_skip_store, capsys):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    assert cli_run(s.path) == 0
    out, err = capsys.readouterr()
    assert "skipping 2 cell(s) already FINISHED" in err
    assert [row_status(line)[1] for line in out.splitlines()[1:3]] == ["skipped", "skipped"]
    assert new_cell_runs(s, before) == []
    parent = s.runs.latest_parent()
    assert parent.data.tags["study.cells_skipped"] == "2"
    assert {m["run_id"] for m in s.runs.manifest(parent.info.run_id)} == before


@pytest.mark.slow
def test_rerun_trains_every_cell_again(in_skip_store):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    assert cli_run(s.path, "--rerun") == 0
    new = new_cell_runs(s, before)
    assert sorted(r.data.tags["study.config_hash"] for r in new) == sorted(
        r.data.tags["study.config_hash"] for r in s.first
    )
    assert all(r.info.status == "FINISHED" for r in new)


@pytest.mark.slow
def test_a_changed_setting_changes_the_hash_and_trains_again(in_skip_store):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    old_hashes = {r.data.tags["study.config_hash"] for r in s.first}
    assert cli_run(s.path, "--set", "train.batch_size=25") == 0
    new = new_cell_runs(s, before)
    assert len(new) == 2 and all(r.info.status == "FINISHED" for r in new)
    assert not {r.data.tags["study.config_hash"] for r in new} & old_hashes
    assert {r.data.params["train.batch_size"] for r in new} == {"25"}


@pytest.mark.slow
def test_where_things_are_and_engine_knobs_are_not_identity(in_skip_store, mnist_dir):
    """`data.dir` (same files elsewhere) and `train.steps_per_call` do not change the numbers: no re-run."""
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    copy = shutil.copytree(mnist_dir, s.root / "mnist-copy")
    assert cli_run(s.path, "--set", "train.steps_per_call=20", "--set", f"data.dir={copy}") == 0
    assert new_cell_runs(s, before) == []


@pytest.mark.slow
def test_reordered_grid_with_a_new_value_trains_only_the_new_cell(in_skip_store):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    path = s.root / "reordered.yaml"
    path.write_text(SKIP_STUDY_REORDERED, encoding="utf-8")
    assert cli_run(path) == 0
    new = new_cell_runs(s, before)
    assert [r.data.params["model.activation"] for r in new] == ["tanh"]
    manifest = s.runs.manifest(s.runs.latest_parent().info.run_id)
    assert [(m["name"], m["status"]) for m in manifest] == [
        ("lr=0.1 · relu · seed 0", "skipped"),
        ("lr=0.1 · tanh · seed 0", "done"),
        ("lr=0.1 · sigmoid · seed 0", "skipped"),
    ]
    assert all(m["run_id"] for m in manifest)


# --- crash and resume: kill -9 at several points ----------------------------------------------

FAULT_STUDY = """\
study: fault
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 300, batch_size: 20, eval_every: 10, steps_per_call: 10}
grid:
  model.activation: [sigmoid, relu]
  model.initializer: [he, xavier]
"""
FAULT_ITERATIONS, FAULT_EVAL_EVERY, FAULT_CELLS = 300, 10, 4

# Runs `study` with one runner function patched to SIGKILL its own process at an exact point.
HARNESS = r"""
import os, signal, sys, time
from pathlib import Path
import study.execution.local as backends
import study.execution.grid_work as grid_work
import study.execution.metrics as metrics
import study.store.runs as runs
from study import cli

point, argv = sys.argv[1], sys.argv[2:]

def die():
    os.kill(os.getpid(), signal.SIGKILL)

if point == "before-cells":  # the parent run exists and holds study.yaml; no cell has started
    grid_work.GridWork.execute = lambda *args, **kwargs: die()
elif point.startswith("after-cell-"):  # cells 1..k FINISHED and fully written; cell k+1 not started
    k, train, started = int(point.rsplit("-", 1)[1]), backends.run_cell, []
    def run_cell(job, writer, *callbacks, **where):
        if len(started) == k:
            writer.flush()
            die()
        started.append(job)
        return train(job, writer, *callbacks, **where)
    backends.run_cell = run_cell
elif point == "slow-chunks":  # every chunk's metrics sent at once, and chunks 50 ms apart: a long mid-cell
    metrics.FLUSH_SECONDS, chunk_end = 0.0, metrics.MetricLogger.on_chunk_end
    def on_chunk_end(self, records):
        chunk_end(self, records)
        time.sleep(0.05)
    metrics.MetricLogger.on_chunk_end = on_chunk_end
elif point.startswith("race:"):  # both processes start their first cell together; check-to-create gap widened
    barrier, first, check = Path(point[len("race:"):]), backends.run_cell, runs.Store.taken
    def run_cell(job, writer, *callbacks, **where):
        barrier.mkdir(exist_ok=True)
        (barrier / str(os.getpid())).touch()
        while len(list(barrier.iterdir())) < 2:
            time.sleep(0.02)
        return first(job, writer, *callbacks, **where)
    def taken(self, *args, **kwargs):
        found = check(self, *args, **kwargs)
        time.sleep(0.5)
        return found
    backends.run_cell, runs.Store.taken = run_cell, taken
sys.argv = ["study", *argv]
cli.main()  # as the `study` command: it ends the process itself
"""


def child_env(mnist_dir: Path, cache: Path | None = None) -> dict[str, str]:
    """The study's environment; `cache` replaces the user's cache (XDG_CACHE_HOME), where the template of
    new stores is kept."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env[DATA_ENV] = str(mnist_dir)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    return env


def start_study(
    root: Path, study: Path, mnist_dir: Path, point: str | None = None, tag: str = "run", extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`study run STUDY --quiet` in a subprocess (through HARNESS when `point` is given), output to files."""
    args = ["run", str(study), "--quiet", *extra]
    cmd = [sys.executable, "-c", HARNESS, point, *args] if point else [sys.executable, "-m", "study.cli", *args]
    with open(root / f"{tag}.out", "wb") as out, open(root / f"{tag}.err", "wb") as err:
        env = child_env(mnist_dir, root / "cache")  # an empty cache: a new store's schema is migrated by this run
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=err)


def cell_states(db: Path) -> list[tuple[str, str, int]]:
    """(run id, status, train_loss points) of every cell run, straight from SQLite: cheap enough to poll."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        return con.execute(
            "select r.run_uuid, r.status, (select count(*) from metrics m where m.run_uuid = r.run_uuid "
            "and m.key = 'train_loss') "
            "from runs r join tags t on t.run_uuid = r.run_uuid and t.key = 'study.role' and t.value = 'cell'"
        ).fetchall()


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


# id -> (HARNESS point or None for plain `python -m study.cli`, whether the test kills it from outside)
KILL_POINTS = {
    "store-creation": (None, True),
    "before-cells": ("before-cells", False),
    "mid-cell": ("slow-chunks", True),
    "after-cell-2": ("after-cell-2", False),
}


@pytest.mark.slow
@pytest.mark.parametrize("point", KILL_POINTS, ids=KILL_POINTS)
def test_kill_9_then_resume(point, tmp_path, monkeypatch, mnist_dir, blank_db, capsys):
    root = tmp_path
    if point != "store-creation":
        prepare_store(root, blank_db)
    study = root / "fault.yaml"
    study.write_text(FAULT_STUDY, encoding="utf-8")
    db = root / "mlruns" / "mlflow.db"

    harness, from_outside = KILL_POINTS[point]
    proc = start_study(root, study, mnist_dir, harness, tag="killed")
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


# --- isolated failures -----------------------------------------------------------------------

DIVERGING = """\
study: diverge
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  model: {activation: relu, initializer: he}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  optimizer.lr: [1.0e+6, 0.1]
"""


@pytest.mark.slow
def test_a_diverging_cell_fails_the_grid_goes_on_and_the_exit_code_is_1(project, write_study, capsys):
    assert cli_run(write_study(DIVERGING)) == 1
    out = capsys.readouterr().out
    rows = out.splitlines()
    assert row_status(rows[1]) == ("lr=1e+06 · seed 0", "failed")
    assert "↳" in rows[2] and "loss became" in rows[2] and "iteration" in rows[2]  # the reason, under the row
    assert row_status(rows[3]) == ("lr=0.1 · seed 0", "done")
    assert "2 cells × 1 seed = 2 runs, 1 failed" in out
    runs = Runs(project, "diverge")
    failed = [r for r in runs.all() if r.info.status == "FAILED"]
    assert len(failed) == 1 and runs.statuses() == {"FAILED": 1, "FINISHED": 1}
    tags = failed[0].data.tags
    assert "loss became" in tags["study.failure"] and 1 <= int(tags["study.failure_step"]) <= 40


@pytest.mark.slow
def test_an_exception_in_one_cell_fails_only_that_cell(project, write_study, monkeypatch, capsys):
    import study.execution.cell

    train = study.execution.cell.Training.train

    def failing_for_sigmoid(self, cell, data, callbacks):  # mid-cell, in the driver's callbacks
        extra = [Explode()] if cell.settings.model.activation == "sigmoid" else []
        return train(self, cell, data, [*callbacks, *extra])

    monkeypatch.setattr(study.execution.cell.Training, "train", failing_for_sigmoid)
    assert cli_run(write_study(SKIP_STUDY.replace("skipdone", "broken"))) == 1
    out = capsys.readouterr().out
    assert "↳ RuntimeError: injected failure\n" in out
    runs = Runs(project, "broken")
    by_activation = {r.data.params["model.activation"]: r for r in runs.all()}
    failed, fine = by_activation["sigmoid"], by_activation["relu"]
    assert failed.info.status == "FAILED" and "study.failure_step" not in failed.data.tags
    assert failed.data.tags["study.failure"] == "RuntimeError: injected failure"
    assert runs.steps(failed.info.run_id, "train_loss") == list(range(1, 41))  # what it logged is kept
    assert {a.path for a in runs.client.list_artifacts(failed.info.run_id)} == {"config.yaml"}
    assert fine.info.status == "FINISHED"
    assert_whole(runs, fine, 40, 10)


def test_a_model_that_cannot_be_packaged_fails_only_its_cell_and_leaves_no_files(
    project, write_study, monkeypatch, capsys
):
    """Packaging the first cell's model breaks after writing its files: that cell ends FAILED saying so,
    with its metrics kept and no temporary files left; the next cell finishes with its model."""
    import study.store.models

    write_package, seen = study.store.models.write_package, []

    def breaks_once(saved, path):
        write_package(saved, path)
        seen.append((saved.path, path))
        if len(seen) == 1:
            raise RuntimeError("injected packaging failure")

    monkeypatch.setattr(study.store.models, "write_package", breaks_once)
    assert cli_run(write_study(SKIP_STUDY.replace("skipdone", "unpackaged"))) == 1
    assert "saving the model failed: RuntimeError: injected packaging failure" in capsys.readouterr().out
    runs = Runs(project, "unpackaged")
    by_activation = {r.data.params["model.activation"]: r for r in runs.all()}
    failed, fine = by_activation["sigmoid"], by_activation["relu"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["study.failure"] == "saving the model failed: RuntimeError: injected packaging failure"
    assert runs.steps(failed.info.run_id, "train_loss") == list(range(1, 41))
    assert "study.model" not in failed.data.tags
    assert fine.info.status == "FINISHED" and fine.data.tags["study.model"].startswith("models:/")
    for keras_file, package_dir in seen:
        assert not Path(keras_file).parent.exists() and not Path(package_dir).parent.exists()


def test_a_model_whose_upload_is_skipped_after_a_store_fault_leaves_no_files(
    project, write_study, monkeypatch, tmp_path
):
    """The first cell's learning curve fails to store ("disk is full"): the writer skips its model's upload,
    and the packaged model is still removed from the temporary folder (it used to stay there). A folder a
    process that has ended left there is removed when the run starts."""
    import study.execution.cell

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (temp / f"study-keras-{int(ended.stdout)}-left").mkdir()  # a killed trainer's: removed at the start

    def disk_full(*args):
        raise RuntimeError("(sqlite3.OperationalError) database or disk is full")

    monkeypatch.setattr(study.execution.cell, "log_curve", disk_full)
    assert cli_run(write_study(SKIP_STUDY.replace("skipdone", "fullstore"))) != 0
    runs = Runs(project, "fullstore")
    first = next(r for r in runs.all() if r.data.params.get("model.activation") == "sigmoid")
    assert first.info.status == "FAILED" and "study.model" not in first.data.tags  # the upload was skipped
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("study-")) == []


# --- concurrent writers -------------------------------------------------------------------------


@pytest.mark.slow
def test_two_processes_on_one_study_lose_nothing_and_duplicate_nothing(tmp_path, mnist_dir, blank_db):
    """Both processes reach the first cell at the same moment, and each waits 0.5 s between finding a
    cell free and starting it: without the per-cell claim both would train it (seen before the fix)."""
    root = tmp_path
    prepare_store(root, blank_db)
    study = root / "fault.yaml"
    study.write_text(FAULT_STUDY.replace("iterations: 300", "iterations: 100"), encoding="utf-8")
    procs = [start_study(root, study, mnist_dir, f"race:{root / 'barrier'}", tag=f"p{i}") for i in (0, 1)]
    codes = [p.wait(CHILD_TIMEOUT_S) for p in procs]
    errs = [(root / f"p{i}.err").read_text() for i in (0, 1)]
    assert codes == [0, 0], errs
    assert not any("locked" in e.lower() for e in errs), errs
    runs = Runs(root, "fault")
    by_hash = runs.finished_by_hash()
    assert len(by_hash) == FAULT_CELLS and all(len(v) == 1 for v in by_hash.values()), "a cell FINISHED twice"
    assert runs.statuses() == {"FINISHED": FAULT_CELLS}
    for (run,) in by_hash.values():
        assert_whole(runs, run, 100, FAULT_EVAL_EVERY)
    outs = [(root / f"p{i}.out").read_text() for i in (0, 1)]
    assert sum(o.count(" done ") for o in outs) == FAULT_CELLS  # each cell trained by exactly one of them
    assert sum(o.count("being trained by another process") for o in outs) >= 1


@pytest.mark.slow
def test_worker_processes_write_one_store_without_loss(project, write_study):
    path = write_study(FAULT_STUDY.replace("iterations: 300", "iterations: 60"))
    assert cli_run(path, "--workers", "2") == 0
    runs = Runs(project, "fault")
    assert runs.statuses() == {"FINISHED": FAULT_CELLS}
    for run in runs.all():
        assert_whole(runs, run, 60, FAULT_EVAL_EVERY)


# --- bad input: one line, exit 2, no store ------------------------------------------------------

N_TRAIN, N_TEST = 40, 20  # a tiny IDX dataset written per test


def write_idx(directory: Path) -> Path:
    """Four valid raw IDX files of random digits: N_TRAIN training and N_TEST test images."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        )
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return directory


def good_study(data_dir: Path) -> dict:
    """A valid study on the tiny dataset; each bad-input case breaks one thing."""
    return {
        "study": "bad",
        "base": {
            "data": {"name": "mnist", "dir": str(data_dir)},
            "model": {"hidden": [8]},
            "train": {"iterations": 20, "batch_size": 10, "eval_every": 10},
        },
        "grid": {"model.activation": ["relu", "sigmoid"]},
    }


def damage(name: str, fn):
    """A case step that rewrites one IDX file of the tiny dataset."""

    def apply(doc, root):
        path = Path(doc["base"]["data"]["dir"]) / name
        path.write_bytes(fn(path.read_bytes()))

    return apply


def setting(section: str, key: str, value):
    def apply(doc, root):
        doc["base"].setdefault(section, {})[key] = value

    return apply


def grid(value):
    def apply(doc, root):
        doc["grid"] = value

    return apply


def data_dir(value: str):
    def apply(doc, root):
        doc["base"]["data"]["dir"] = str(root / value)

    return apply


def unlink(name: str):
    def apply(doc, root):
        (Path(doc["base"]["data"]["dir"]) / name).unlink()

    return apply


def gzip_garbage(name: str):
    def apply(doc, root):
        folder = Path(doc["base"]["data"]["dir"])
        (folder / name).unlink()
        (folder / f"{name}.gz").write_bytes(b"\x1f\x8b\x08\x00 definitely not deflate data")

    return apply


TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"

# id -> (change to the good study, extra CLI args, text the one error line must hold)
BAD_INPUT = {
    "unknown key": (setting("model", "activaton", "relu"), (), "unknown key 'activaton'"),
    "wrong type": (setting("train", "iterations", "20"), (), "train.iterations"),
    "unknown activation": (
        grid({"model.activation": ["relu", "sigmoyd"]}),
        (),
        "'sigmoyd' is not valid (valid: sigmoid",
    ),
    "unknown initializer": (setting("model", "initializer", "glorot"), (), "'glorot' is not valid (valid: gauss"),
    "unknown optimizer": (setting("optimizer", "name", "adamq"), (), "'adamq' is not valid (valid: sgd"),
    "unknown dataset": (
        setting("data", "name", "svhn"),
        (),
        "name 'svhn' is not a dataset study knows (valid: mnist, fashion_mnist, cifar10, cifar100)",
    ),
    "empty grid": (grid({}), (), "the grid is empty"),
    "axis with no values": (grid({"model.activation": []}), (), "has no values"),
    "axis not a list": (grid({"model.activation": "relu"}), (), "grid.model.activation"),
    "duplicate cells": (
        grid({"net": [{"label": "a", "model.activation": "relu"}, {"label": "b", "model.activation": "relu"}]}),
        (),
        "resolve to the same settings",
    ),
    "zero iterations": (setting("train", "iterations", 0), (), "train.iterations: 0"),
    "negative batch": (setting("train", "batch_size", -5), (), "train.batch_size: -5"),
    "zero train_size": (setting("data", "train_size", 0), (), "data.train_size: 0"),
    "negative lr": (setting("optimizer", "lr", -0.1), (), "optimizer.lr: -0.1"),
    "dropout 1.5": (setting("model", "dropout", 1.5), (), "model.dropout: 1.5"),
    "momentum 1": (setting("optimizer", "momentum", 1.0), (), "optimizer.momentum: 1.0"),
    "batch > train_size": (lambda d, r: d["base"]["data"].update(train_size=5), (), "larger than data.train_size"),
    "batch > the dataset": (setting("train", "batch_size", N_TRAIN + 1), (), f"({N_TRAIN} samples)"),
    "eval_every > iterations": (
        setting("train", "eval_every", 50),
        (),
        "eval_every (50) is larger than train.iterations (20)",
    ),
    "missing data dir": (data_dir("nowhere"), (), "data directory does not exist"),
    "data dir lacks a file": (unlink(TEST_LABELS), (), f"{TEST_LABELS}: missing"),
    "truncated IDX": (damage(TRAIN_IMAGES, lambda b: b[:-100]), (), f"{TRAIN_IMAGES}: truncated"),
    "bad magic": (damage(TRAIN_LABELS, lambda b: struct.pack(">I", 0x803) + b[4:]), (), "bad magic number"),
    "extra bytes": (damage(TEST_IMAGES, lambda b: b + b"\0" * 7), (), f"{TEST_IMAGES}: too long"),
    "corrupted gzip": (gzip_garbage(TEST_IMAGES), (), "corrupted gzip"),
    "unknown --set key": (lambda d, r: None, ("--set", "train.iteratoins=5"), "unknown setting 'train.iteratoins'"),
    "--set bad value": (lambda d, r: None, ("--set", "optimizer.name=adamq"), "'adamq' is not valid"),
}


def assert_refused(root: Path, code: int, err: str, needle: str) -> None:
    """Exit 2, exactly one line on stderr holding `needle`, and no store created."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert not (root / "mlruns").exists(), "bad input wrote a store"


@pytest.mark.parametrize("case", BAD_INPUT, ids=BAD_INPUT)
def test_bad_input_is_refused_with_one_line_and_no_store(case, tmp_cwd, capsys):
    change, args, needle = BAD_INPUT[case]
    doc = good_study(write_idx(tmp_cwd / "idx"))
    change(doc, tmp_cwd)
    path = tmp_cwd / "bad.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    code = cli_run(path, *args)
    out, err = capsys.readouterr()
    assert_refused(tmp_cwd, code, err, needle)
    assert out == "" and str(tmp_cwd) in err  # names the study file or the data file at fault


def test_the_good_study_of_the_bad_input_table_is_good(tmp_cwd, capsys):
    """The table's cases fail for their one change, not because the base study is broken."""
    path = tmp_cwd / "good.yaml"
    path.write_text(json.dumps(good_study(write_idx(tmp_cwd / "idx"))), encoding="utf-8")
    assert cli.main(["run", str(path), "--dry-run"]) == 0
    from study.execution.datasets import dataset_digest

    study = load_study(path)
    dataset_digest(study, expand(study))  # loads the tiny dataset, checks batch sizes: no error


def test_batch_larger_than_all_of_mnist_is_refused(tmp_cwd, mnist_dir, capsys):
    doc = good_study(mnist_dir)
    doc["base"]["train"]["batch_size"] = 60001
    path = tmp_cwd / "huge.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code = cli_run(path)
    assert_refused(tmp_cwd, code, capsys.readouterr().err, "is larger than the training set (60000 samples)")


STUDY_FILES = {  # id -> file bytes, text the one error line must hold
    "missing file": (None, "cannot read the study file"),
    "not UTF-8": (b"study: \xff\xfe\n", "cannot read the study file"),
    "not YAML": (b"study: [unclosed\ngrid: {", "not valid YAML"),
    "YAML but not a mapping": (b"- study\n- grid\n", "must be a YAML mapping"),
    "python object tag": (
        b'study: !!python/object/apply:os.system ["touch PWNED"]\ngrid: {model.activation: [relu]}\n',
        "python/object/apply:os.system",
    ),
}


@pytest.mark.parametrize("case", STUDY_FILES, ids=STUDY_FILES)
def test_unreadable_or_unsafe_study_file_is_refused(case, tmp_cwd, capsys):
    blob, needle = STUDY_FILES[case]
    path = tmp_cwd / "study.yaml"
    if blob is not None:
        path.write_bytes(blob)
    code = cli_run(path)
    assert_refused(tmp_cwd, code, capsys.readouterr().err, needle)
    assert not (tmp_cwd / "PWNED").exists()  # safe loading: the tag was refused, not executed


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_study_file_without_read_permission_is_refused(tmp_cwd, capsys):
    path = tmp_cwd / "study.yaml"
    path.write_text(json.dumps(good_study(tmp_cwd)), encoding="utf-8")
    path.chmod(0)
    assert_refused(tmp_cwd, cli_run(path), capsys.readouterr().err, "cannot read the study file")


# --- safety: names ---------------------------------------------------------------------------

HOSTILE_LABEL = "lr/10\nsecond line\r\x1b[31m red\x07\tand\u2028more"
LABELLED = """\
study: labels
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  train: {iterations: 20, batch_size: 20, eval_every: 10}
grid:
  net:
    - {label: %s, optimizer.lr: 0.1}
""" % json.dumps(HOSTILE_LABEL)


def test_labels_become_one_printable_line(write_study):
    (cell,) = expand(load_study(write_study(LABELLED)))
    assert cell.name == "lr/10 second line [31m red and more · seed 0"
    assert cell.name.isprintable() and cell.labels == {"net": "lr/10 second line [31m red and more"}


@pytest.mark.slow
def test_hostile_label_gives_a_clean_run_name_and_fixed_artifact_paths(project, write_study):
    assert cli_run(write_study(LABELLED)) == 0
    runs = Runs(project, "labels")
    (run,) = runs.all()
    assert run.info.run_name == "lr/10 second line [31m red and more · seed 0"
    assert run.data.tags["axis.net"] == "lr/10 second line [31m red and more"
    assert {a.path for a in runs.client.list_artifacts(run.info.run_id)} == {"config.yaml", "learning_curve.png"}
    assert run.data.params["net"] == "lr/10 second line [31m red and more"
