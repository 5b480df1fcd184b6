"""The fault tests against a real MLflow tracking server (`mlflow server` on 127.0.0.1, SQLite backend,
local artifact root) instead of a local SQLite file: kill -9 and resume, two processes racing for the
same cells (the claim recorded in the store, study/store/claims.server_claim), four concurrent `study
run`s of one study. Every cell FINISHED exactly once, no metric lost."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.run.support import DATA_ENV
from tests.run.test_reliability import (
    FAULT_CELLS,
    FAULT_EVAL_EVERY,
    FAULT_ITERATIONS,
    FAULT_STUDY,
    HARNESS,
    cell_states,
)

pytestmark = pytest.mark.slow
SERVER_READY_S, CHILD_TIMEOUT_S = 180.0, 300.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path, blank_db: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on a copy of the blank store; yields (its URI, its SQLite file)."""
    db = Path(shutil.copy(blank_db, tmp_path / "server.db"))
    port = free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{db}",
        "--artifacts-destination", str(tmp_path / "server-artifacts"), "--host", "127.0.0.1",
        "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with open(tmp_path / "server.log", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_READY_S
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"mlflow server did not start: {(tmp_path / 'server.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield uri, db
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(proc.pid, sig)
                proc.wait(10)
                break
            except (ProcessLookupError, subprocess.TimeoutExpired):
                continue


def start(root: Path, uri: str, mnist_dir: Path, point: str | None, tag: str, study: Path) -> subprocess.Popen:
    """`study run STUDY --quiet` against the server, through HARNESS when `point` is given."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, DATA_ENV: str(mnist_dir)}
    args = ["run", str(study), "--quiet"]
    cmd = [sys.executable, "-c", HARNESS, point, *args] if point else [sys.executable, "-m", "study.cli", *args]
    with open(root / f"{tag}.out", "wb") as out, open(root / f"{tag}.err", "wb") as err:
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=err)


def finished_once(db: Path, iterations: int) -> list[tuple[str, str, int]]:
    """Every cell run's (id, status, train_loss points), asserting each cell FINISHED exactly once and whole."""
    states = cell_states(db)
    finished = [s for s in states if s[1] == "FINISHED"]
    assert len(finished) == FAULT_CELLS, states
    assert all(n == iterations for _, _, n in finished), states  # no train_loss point lost
    return states


def config_hashes_finished(uri: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name("fault")
    runs = client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell' and attributes.status = 'FINISHED'")
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "test_acc")
        assert [m.step for m in history] == list(
            range(0, int(run.data.params["train.iterations"]) + 1, FAULT_EVAL_EVERY)
        )
    return sorted(r.data.tags["study.config_hash"] for r in runs)


def test_kill_9_mid_cell_then_resume_against_a_tracking_server(server, tmp_path, mnist_dir):
    uri, db = server
    study = tmp_path / "fault.yaml"
    study.write_text(FAULT_STUDY, encoding="utf-8")
    proc = start(tmp_path, uri, mnist_dir, "slow-chunks", "killed", study)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not any(s == "RUNNING" and 0 < n < FAULT_ITERATIONS for _, s, n in cell_states(db)):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.err").read_text()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL
    resumed = start(tmp_path, uri, mnist_dir, None, "resumed", study)
    assert resumed.wait(CHILD_TIMEOUT_S) == 0, (tmp_path / "resumed.err").read_text()[-2000:]
    states = finished_once(db, FAULT_ITERATIONS)
    assert {s for _, s, _ in states} == {"FINISHED", "KILLED"}  # the killed cell's partial run, marked
    marked = "marked 2 run(s) left RUNNING by a dead process as KILLED"  # the cell and its parent
    assert marked in (tmp_path / "resumed.err").read_text()
    assert len(set(config_hashes_finished(uri))) == FAULT_CELLS


def test_two_processes_racing_for_the_same_cells_on_a_tracking_server(server, tmp_path, mnist_dir):
    """Both reach their first cell together and widen the check-to-create gap (HARNESS `race:`): only the
    claim in the store keeps them from training the same cell twice."""
    uri, db = server
    study = tmp_path / "fault.yaml"
    study.write_text(FAULT_STUDY.replace("iterations: 300", "iterations: 100"), encoding="utf-8")
    procs = [start(tmp_path, uri, mnist_dir, f"race:{tmp_path / 'barrier'}", f"p{i}", study) for i in (0, 1)]
    codes = [p.wait(CHILD_TIMEOUT_S) for p in procs]
    assert codes == [0, 0], [(tmp_path / f"p{i}.err").read_text()[-2000:] for i in (0, 1)]
    states = finished_once(db, 100)
    assert {s for _, s, _ in states} == {"FINISHED"}, states  # nothing trained twice, nothing half-written
    outs = [(tmp_path / f"p{i}.out").read_text() for i in (0, 1)]
    assert sum(o.count(" done ") for o in outs) == FAULT_CELLS
    assert len(config_hashes_finished(uri)) == FAULT_CELLS


def test_four_concurrent_runs_of_one_study_on_a_tracking_server(server, tmp_path, mnist_dir):
    uri, db = server
    study = tmp_path / "fault.yaml"
    study.write_text(FAULT_STUDY.replace("iterations: 300", "iterations: 60"), encoding="utf-8")
    procs = [start(tmp_path, uri, mnist_dir, None, f"q{i}", study) for i in range(4)]
    codes = [p.wait(CHILD_TIMEOUT_S) for p in procs]
    assert codes == [0] * 4, [(tmp_path / f"q{i}.err").read_text()[-2000:] for i in range(4)]
    states = finished_once(db, 60)
    assert {s for _, s, _ in states} == {"FINISHED"}, states
    assert sum((tmp_path / f"q{i}.out").read_text().count(" done ") for i in range(4)) == FAULT_CELLS
    assert len(config_hashes_finished(uri)) == FAULT_CELLS
