"""Adaptive seeds survive kill -9 in the middle of a round: the rerun replays the decisions from the FINISHED
runs, goes on with the same sequence, and trains no finished cell again (study/execution/rounds.py)."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

from tests.support.faults import CHILD_TIMEOUT_S, SLOW_CHUNKS, cell_states, start_study
from tests.support.runs import DATA_ENV, Runs, cli_run, prepare_store

# Two learning rates too close to tell apart: the comparison stays open, so both cells get a seed every round
# (round 1: 4 runs; round 2: 2 runs, up to max 3).
TIE = """\
study: adaptive_kill
base:
  data: {name: mnist, train_size: 200, test_size: 100}
  model: {hidden: [10]}
  optimizer: {name: sgd}
  train: {iterations: 40, batch_size: 20, eval_every: 20, steps_per_call: 5, diagnostics_every: 0}
grid:
  optimizer.lr: [0.1, 0.1001]
seeds: {min: 2, max: 3}
"""
ROUND_1, ALL_RUNS = 4, 6


def rounds_of(runs: Runs, parent_id: str) -> list[dict]:
    path = runs.client.download_artifacts(parent_id, "rounds.json", str(runs.root / f"rounds-{parent_id}"))
    return json.loads(Path(path).read_text(encoding="utf-8"))


def test_kill_9_mid_round_then_rerun_continues_the_same_decisions(tmp_path, monkeypatch, mnist_dir, blank_db):
    root = tmp_path
    db = prepare_store(root, blank_db)
    study = root / "tie.yaml"
    study.write_text(TIE, encoding="utf-8")
    proc = start_study(root, study, mnist_dir, SLOW_CHUNKS, tag="killed")  # ~0.4 s a cell: time to kill mid-round
    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while sum(status == "FINISHED" for _, status, _ in cell_states(db)) <= ROUND_1:  # one of round 2 finished
        assert proc.poll() is None, (root / "killed.err").read_text()
        assert time.monotonic() < deadline, "timed out waiting for round 2"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    runs = Runs(root, "adaptive_kill")
    before = {h: [r.info.run_id for r in found] for h, found in runs.finished_by_hash().items()}
    assert ROUND_1 < len(before) < ALL_RUNS  # killed mid-round 2
    killed_parent = runs.latest_parent()
    first_rounds = rounds_of(runs, killed_parent.info.run_id)
    assert [r["round"] for r in first_rounds] == [1] and first_rounds[0]["added"] == {"lr=0.1": 1, "lr=0.1001": 1}

    monkeypatch.chdir(root)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli_run(study) == 0
    after = runs.finished_by_hash()
    assert len(after) == ALL_RUNS and all(len(found) == 1 for found in after.values())  # none trained twice
    assert all(after[h][0].info.run_id == ids[0] for h, ids in before.items())  # the finished ones reused
    parent = runs.latest_parent()
    assert parent.info.run_id != killed_parent.info.run_id
    replayed = rounds_of(runs, parent.info.run_id)
    assert replayed[0] == first_rounds[0]  # the same first decision, read back from the stored runs
    assert [r["seeds"] for r in replayed] == [{"lr=0.1": 2, "lr=0.1001": 2}, {"lr=0.1": 3, "lr=0.1001": 3}]
    assert replayed[-1]["added"] == {} and "reached max 3 seeds" in replayed[-1]["reason"]
    assert parent.data.tags["study.rounds"].startswith("2 rounds, stopped")
    assert parent.data.tags["study.n_cells"] == str(ALL_RUNS)
    assert len(runs.manifest(parent.info.run_id)) == ALL_RUNS
    assert cli_run(study) == 0  # a third run replays every decision: nothing to train, no new parent
    assert {p.info.run_id for p in runs.all("parent")} == {killed_parent.info.run_id, parent.info.run_id}

    from study.reporting.write import write_report  # the report reads the rounds back from the parent

    html = write_report("adaptive_kill", root / "report", log_to_parent=False).read_text(encoding="utf-8")
    assert "Seeds decided by the study" in html and "2 rounds, 6 runs, where a fixed seeds: 3 takes 6" in html
    assert "<td>lr</td><td>overall</td>" in html and "within noise" in html
