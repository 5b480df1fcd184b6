"""The fault tests against a real MLflow tracking server (`mlflow server` on 127.0.0.1, SQLite backend,
local artifact root) instead of a local SQLite file: kill -9 and resume, two processes racing for the
same cells (the claim recorded in the store, study/store/claims.server_claim), four concurrent `study
run`s of one study. Every cell FINISHED exactly once, no metric lost.

One server serves the session (`server`, conftest.py): each test runs a study of its own name (`fault_study`)
and reads only that experiment's runs; the test that kills the server starts its own. Each `study run`
subprocess starts a trainer that imports TensorFlow (~10 CPU-seconds together): a resume, which is about
what the store holds and not about processes, runs in this process (`resume`).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.store.connect import SERVER_GONE
from tests.support.faults import (
    FAULT_CELLS,
    FAULT_EVAL_EVERY,
    FAULT_ITERATIONS,
    FAULT_STUDY,
    FAULTS_ENV,
    SLOW_CHUNKS,
    cell_states,
)
from tests.support.runs import DATA_ENV, cli_run
from tests.support.tracking_server import CHILD_TIMEOUT_S, free_port, launch_server, stop_server


def fault_study(root: Path, name: str, iterations: int = FAULT_ITERATIONS) -> Path:
    """The fault study as study `name` (its experiment on the shared server), `iterations` long."""
    study = root / "fault.yaml"
    text = FAULT_STUDY.replace("study: fault", f"study: {name}")
    study.write_text(text.replace("iterations: 300", f"iterations: {iterations}"), encoding="utf-8")
    return study


def start(root: Path, uri: str, mnist_dir: Path, faults: str | None, tag: str, study: Path) -> subprocess.Popen:
    """`study run STUDY --quiet` against the server, with the fault points `faults` (STUDY_FAULTS) armed."""
    env = {k: v for k, v in os.environ.items() if k != FAULTS_ENV}
    env.update({"MLFLOW_TRACKING_URI": uri, DATA_ENV: str(mnist_dir)})
    if faults is not None:
        env[FAULTS_ENV] = faults
    cmd = [sys.executable, "-m", "study.cli", "run", str(study), "--quiet"]
    with open(root / f"{tag}.out", "wb") as out, open(root / f"{tag}.err", "wb") as err:
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=err)


def resume(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, uri: str, mnist_dir: Path, study: Path):
    """`study run STUDY --quiet` against the server in this process, from the study's folder, as `start`
    would run it without faults: (its exit code, its stderr)."""
    with monkeypatch.context() as m:
        m.chdir(study.parent)
        m.setenv("MLFLOW_TRACKING_URI", uri)
        m.setenv(DATA_ENV, str(mnist_dir))
        capsys.readouterr()
        code = cli_run(study)
        return code, capsys.readouterr().err


def finished_once(db: Path, name: str, iterations: int) -> list[tuple[str, str, int]]:
    """Every cell run's (id, status, train_loss points) of study `name`, asserting each cell FINISHED exactly
    once and whole."""
    states = cell_states(db, name)
    finished = [s for s in states if s[1] == "FINISHED"]
    assert len(finished) == FAULT_CELLS, states
    assert all(n == iterations for _, _, n in finished), states  # no train_loss point lost
    return states


def config_hashes_finished(uri: str, name: str) -> list[str]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(name)
    runs = client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell' and attributes.status = 'FINISHED'")
    for run in runs:
        history = client.get_metric_history(run.info.run_id, "test_acc")
        assert [m.step for m in history] == list(
            range(0, int(run.data.params["train.iterations"]) + 1, FAULT_EVAL_EVERY)
        )
    return sorted(r.data.tags["study.config_hash"] for r in runs)


def test_kill_9_mid_cell_then_resume_against_a_tracking_server(server, tmp_path, mnist_dir, monkeypatch, capsys):
    uri, db = server
    study = fault_study(tmp_path, "fault-kill")
    proc = start(tmp_path, uri, mnist_dir, SLOW_CHUNKS, "killed", study)
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while not any(s == "RUNNING" and 0 < n < FAULT_ITERATIONS for _, s, n in cell_states(db, "fault-kill")):
        assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "killed.err").read_text()[-2000:]
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL
    code, err = resume(monkeypatch, capsys, uri, mnist_dir, study)
    assert code == 0, err[-2000:]
    states = finished_once(db, "fault-kill", FAULT_ITERATIONS)
    assert {s for _, s, _ in states} == {"FINISHED", "KILLED"}  # the killed cell's partial run, marked
    marked = "marked 2 run(s) left RUNNING by a dead process as KILLED"  # the cell and its parent
    assert marked in err
    assert len(set(config_hashes_finished(uri, "fault-kill"))) == FAULT_CELLS


def four_racing(barrier: Path, racer: bool) -> str:
    """The four processes take their first claim together (fault point `cell`); a racer also widens the
    check-to-create gap to 0.5 s (`claimed`), as tests/support/faults.race does for two."""
    together = f"cell=barrier:4:{barrier}"
    return f"{together},claimed=sleep:0.5" if racer else together


def test_four_concurrent_runs_of_one_study_two_racing_for_the_same_cells_on_a_tracking_server(
    server, tmp_path, mnist_dir
):
    """Four `study run`s of one study at once, all reaching their first cell together; two of them (p0, p1)
    also widen the check-to-create gap: only the claim in the store keeps any two from training the same
    cell twice. One test for the four concurrent runs and the two racing ones: each process costs a
    TensorFlow import, and the four-way race holds the two-way one."""
    uri, db = server
    study = fault_study(tmp_path, "fault-four", 60)
    tags = ["p0", "p1", "q2", "q3"]
    procs = [start(tmp_path, uri, mnist_dir, four_racing(tmp_path / "barrier", t[0] == "p"), t, study) for t in tags]
    codes = [p.wait(CHILD_TIMEOUT_S) for p in procs]
    assert codes == [0] * 4, [(tmp_path / f"{t}.err").read_text()[-2000:] for t in tags]
    states = finished_once(db, "fault-four", 60)
    assert {s for _, s, _ in states} == {"FINISHED"}, states  # nothing trained twice, nothing half-written
    assert sum((tmp_path / f"{t}.out").read_text().count(" done ") for t in tags) == FAULT_CELLS
    assert len(config_hashes_finished(uri, "fault-four")) == FAULT_CELLS


# In another process: claim cells h0000… in its own shuffled order, all together (files `ready<me>`,
# `go`); write the cells it won to won<me>.json, and hold every claim until all four have written theirs.
CLAIM_HAMMER = """
import json, random, sys, time
from pathlib import Path
from study.store.runs import Store
uri, exp_id, n, me, folder, procs = sys.argv[1:]
folder, cells = Path(folder), list(range(int(n)))
random.Random(int(me)).shuffle(cells)
store = Store(uri)
(folder / f"ready{me}").touch()
while not (folder / "go").exists():
    time.sleep(0.01)
won = [c for c in cells if store.claim(exp_id, f"h{c:04d}", "d") is not None]
(folder / f"won{me}.json").write_text(json.dumps(won))
while len(list(folder.glob("won*.json"))) < int(procs):
    time.sleep(0.05)
"""
HAMMER_CELLS, HAMMER_PROCS = 30, 4  # 30 cells × 4 processes: they race on every one


def test_cell_claims_hammered_from_four_processes_on_a_tracking_server(server, tmp_path):
    """Four processes claim the same 30 cells at once, each in its own order: every cell is claimed by
    exactly one of them (MLflow's unique experiment names, no timing window). Claims of dead processes
    are taken over, a released claim can be claimed again, and no claim shows among active experiments."""
    from study.store.claims import CLAIM_PREFIX
    from study.store.runs import Store

    uri, _ = server
    store = Store(uri)
    before = {e.name for e in store.client.search_experiments()}  # the shared server's other tests' studies
    exp_id = store.experiment_id("claims")
    args = [uri, exp_id, str(HAMMER_CELLS)]
    procs = [
        subprocess.Popen([sys.executable, "-c", CLAIM_HAMMER, *args, str(i), str(tmp_path), str(HAMMER_PROCS)])
        for i in range(HAMMER_PROCS)
    ]
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while len(list(tmp_path.glob("ready*"))) < HAMMER_PROCS:
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.05)
    (tmp_path / "go").touch()
    assert [p.wait(CHILD_TIMEOUT_S) for p in procs] == [0] * HAMMER_PROCS
    won = [json.loads((tmp_path / f"won{i}.json").read_text()) for i in range(HAMMER_PROCS)]
    assert sorted(c for w in won for c in w) == list(range(HAMMER_CELLS))  # each cell exactly once
    assert sum(len(w) > 0 for w in won) >= 2, [len(w) for w in won]  # they did race
    # all four holders are dead now: each cell's claim is taken over (its next generation)
    mine = [store.claim(exp_id, f"h{c:04d}", "d") for c in range(HAMMER_CELLS)]
    assert all(c is not None for c in mine)
    assert store.claim(exp_id, "h0000", "d") is None  # held by this live process
    mine[0].release()
    again = store.claim(exp_id, "h0000", "d")  # released: claimed anew
    assert again is not None
    names = {e.name for e in store.client.search_experiments()}
    assert "Default" in names and names - before == {"claims"}, sorted(names - before)[:5]  # claims: hidden
    assert not [n for n in names if n.startswith(CLAIM_PREFIX)]  # (soft-deleted), this test's and any other's
    first = store.client.get_experiment_by_name(f"{CLAIM_PREFIX}/{exp_id}/h0000/d/0")
    assert first is not None and first.lifecycle_stage == "deleted"
    assert store.client.get_experiment_by_name(f"{CLAIM_PREFIX}/{exp_id}/h0000/d/2") is not None


# MLflow's HTTP retries as study/store/connect.py sets them where the user set none: 4 retries, 0+2+4+8 s
# apart with up to 1 s of jitter each (~15 s in all), 30 s for an answer. MLflow's own: 7 retries, ~4 minutes.
STUDY_RETRIES = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "4",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "30",
}
# The killed server's `study run` keeps study's 4 retries without their backoff (~15 s of waiting).
QUICK_RETRIES = {"MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "0", "MLFLOW_HTTP_REQUEST_BACKOFF_JITTER": "0.2"}


def retry_settings_of_a_study_process() -> dict[str, str]:
    """The MLflow HTTP retry settings a process running study has when its user set none."""
    code = "import os, json, study.store.connect; print(json.dumps({k: os.environ.get(k) for k in %r}))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_HTTP_REQUEST_")}
    done = subprocess.run([sys.executable, "-c", code % sorted(STUDY_RETRIES)], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout)


def test_a_tracking_server_killed_mid_run_then_restarted(tmp_path, blank_db, mnist_dir, monkeypatch, capsys):
    """The server is SIGKILLed while a cell trains (one cell FINISHED before): `study run` ends within
    the client's retry bound with one line and exit 1 (study's bound, STUDY_RETRIES, with the backoff left
    out: QUICK_RETRIES); restarted on the same database, the same `study run` marks the interrupted runs
    KILLED and trains only what is missing. It kills the server: it starts a server of its own (not the
    session's)."""
    assert retry_settings_of_a_study_process() == STUDY_RETRIES

    db = Path(shutil.copy(blank_db, tmp_path / "server.db"))
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    first = launch_server(tmp_path, db, port)
    try:
        study = fault_study(tmp_path, "fault")
        with monkeypatch.context() as m:
            for key, value in QUICK_RETRIES.items():
                m.setenv(key, value)
            proc = start(tmp_path, uri, mnist_dir, SLOW_CHUNKS, "cut", study)
        deadline = time.monotonic() + CHILD_TIMEOUT_S

        def mid_run() -> bool:
            states = cell_states(db)
            finished = sum(s == "FINISHED" for _, s, _ in states)
            return finished >= 1 and any(s == "RUNNING" and 0 < n < FAULT_ITERATIONS for _, s, n in states)

        while not mid_run():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "cut.err").read_text()[-2000:]
            time.sleep(0.05)
        stop_server(first, (signal.SIGKILL,))
        killed_at = time.monotonic()
        assert proc.wait(CHILD_TIMEOUT_S) == 1, (tmp_path / "cut.err").read_text()[-2000:]
        waited = time.monotonic() - killed_at
        err = [ln for ln in (tmp_path / "cut.err").read_text().splitlines() if ln.strip()]
        traceback = [i for i, ln in enumerate(err) if ln.startswith("Traceback")]
        assert not traceback, "\n".join(err[traceback[0] : traceback[0] + 60]) if traceback else ""
        assert err[-1] == f"error: {SERVER_GONE}", err[-20:]
        assert waited < 60, waited  # 4 quick HTTP retries; study's ones take ~15 s, MLflow's default ones ~4 minutes
        before = {(r, n) for r, s, n in cell_states(db) if s == "FINISHED"}
        assert before and {s for _, s, _ in cell_states(db)} <= {"FINISHED", "RUNNING"}
    finally:
        stop_server(first)
    again = launch_server(tmp_path, db, port)
    try:
        code, said = resume(monkeypatch, capsys, uri, mnist_dir, study)
        assert code == 0, said[-2000:]
        states = finished_once(db, "fault", FAULT_ITERATIONS)
        assert before <= {(r, n) for r, s, n in states if s == "FINISHED"}  # nothing FINISHED was lost or redone
        assert {s for _, s, _ in states} == {"FINISHED", "KILLED"}, states
        assert "left RUNNING by a dead process as KILLED" in said
        assert len(set(config_hashes_finished(uri, "fault"))) == FAULT_CELLS
        print(f"study run ended {waited:.1f}s after the server was killed")
    finally:
        stop_server(again)
