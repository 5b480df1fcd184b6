"""A search on the Ray backend (study/execution/ray_backend.py `run_search_on_ray`) against a real local Ray instance:
trials in parallel tasks with the budget met exactly, each trial the cell child run the local backend writes,
pruning from the worker, and a worker killed mid-trial (SIGKILL) whose trial is queued again and finished.

One local Ray instance (127.0.0.1, 2 CPUs) serves the session (`ray_cluster`, tests/system/execution/conftest.py);
every search runs on 300 MNIST images into a real SQLite store of its own, copied from the blank one.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest

from study.execution.ray_backend import LOOPBACK_ENV

os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when ray is imported: keep Ray on 127.0.0.1
ray = pytest.importorskip("ray")

from study.store.contract import Tag  # noqa: E402
from tests.support.runs import DATA_ENV, Runs, cli_run, enqueue, prepare_store  # noqa: E402
from tests.support.searches import optuna_trials, search_text  # noqa: E402

KILL_TIMEOUT_S = 180  # how long the killer waits for a trial's run to appear on a loaded machine
CURVES = ("train_loss", "train_acc", "test_acc", "test_loss")
COMPARED_TAGS = (Tag.TRIAL, Tag.TRIAL_STATE, Tag.PRUNED_AT, Tag.CONFIG_HASH, "axis.lr", Tag.DATASET_DIGEST)

# Two good learning rates, then two that cannot leave chance level in 100 iterations: with
# startup_trials 1 the median pruner stops each bad one at iteration 10, whichever task asks for it
# (a third trial is asked only after a task told its first one COMPLETE).
PRUNED = """\
study: rayprune
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd}
  train: {iterations: 100, batch_size: 20, eval_every: 10, steps_per_call: 10}
search:
  sampler: random
  trials: 4
  pruner: median
  startup_trials: 1
  params:
    optimizer.lr: {loguniform: [1.0e-6, 0.5]}
"""
QUEUED = ({"lr": 0.1}, {"lr": 0.2}, {"lr": 1e-6}, {"lr": 2e-6})


@pytest.fixture
def enter(tmp_path, monkeypatch, mnist_dir, blank_db):
    """A function that makes a project folder with a blank store and the study file, and works in it."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))

    def make(name: str, text: str) -> Path:
        root = tmp_path / name
        root.mkdir()
        prepare_store(root, blank_db)
        (root / "search.yaml").write_text(text, encoding="utf-8")
        monkeypatch.chdir(root)
        return root

    return make


def by_trial(root: Path, study: str) -> dict[str, object]:
    """Trial number -> its cell run."""
    return {r.data.tags[Tag.TRIAL]: r for r in Runs(root, study).all()}


@pytest.mark.ray
def test_a_search_on_ray_runs_its_budget_in_parallel_and_writes_what_the_local_backend_writes(enter, ray_cluster):
    on_ray = enter("ray", PRUNED)
    enqueue(on_ray, QUEUED)
    assert cli_run(on_ray / "search.yaml", "--backend", "ray", "--workers", "2") == 0
    local = enter("local", PRUNED)
    enqueue(local, QUEUED)
    assert cli_run(local / "search.yaml") == 0

    trials, twins = optuna_trials(on_ray), optuna_trials(local)
    assert [t.number for t in trials] == [0, 1, 2, 3]  # exactly the budget: no trial lost, none twice
    assert [t.state.name for t in trials] == [t.state.name for t in twins] == ["COMPLETE"] * 2 + ["PRUNED"] * 2
    assert [t.params for t in trials] == [t.params for t in twins] == list(QUEUED)
    assert [t.value for t in trials] == [t.value for t in twins]
    assert [t.intermediate_values for t in trials] == [t.intermediate_values for t in twins]
    assert all(max(t.intermediate_values) == 10 for t in trials[2:])  # the pruner stopped them in the worker
    runs, ray_runs, local_runs = Runs(on_ray, "rayprune"), by_trial(on_ray, "rayprune"), by_trial(local, "rayprune")
    assert sorted(ray_runs) == sorted(local_runs) == ["0", "1", "2", "3"]
    parent = runs.latest_parent()
    assert parent.info.status == "FINISHED"
    assert {r.data.tags["mlflow.parentRunId"] for r in ray_runs.values()} == {parent.info.run_id}
    assert [m["run_id"] for m in runs.manifest(parent.info.run_id)] == [ray_runs[str(i)].info.run_id for i in range(4)]
    local_store = Runs(local, "rayprune")
    for number, run in ray_runs.items():
        twin = local_runs[number]
        assert run.info.run_name == twin.info.run_name and run.info.status == twin.info.status
        assert int(run.data.tags[Tag.PROCESS].split(":")[1]) != os.getpid()  # trained in a Ray worker
        assert run.data.params == twin.data.params
        assert {k: run.data.tags.get(k) for k in COMPARED_TAGS} == {k: twin.data.tags.get(k) for k in COMPARED_TAGS}
        assert run.data.metrics.keys() == twin.data.metrics.keys()
        scores = [k for k in twin.data.metrics if k.startswith(("best_", "final_"))]
        assert scores and {k: run.data.metrics[k] for k in scores} == {k: twin.data.metrics[k] for k in scores}
        for key in CURVES:
            ours = [(m.step, m.value) for m in runs.client.get_metric_history(run.info.run_id, key)]
            theirs = [(m.step, m.value) for m in local_store.client.get_metric_history(twin.info.run_id, key)]
            assert sorted(ours) == sorted(theirs), f"trial {number}: {key} differs between Ray and local"
    assert [ray_runs[n].data.tags[Tag.PRUNED_AT] for n in ("2", "3")] == ["10", "10"]
    assert runs.steps(ray_runs["2"].info.run_id, "train_loss") == list(range(1, 11))


# Trials long enough (10,000 iterations, evaluated rarely) that the kill lands mid-trial on a fast machine too.
KILLED = search_text(3, 10000).replace("eval_every: 10, steps_per_call: 10", "eval_every: 5000, steps_per_call: 50")


def kill_first_running(root: Path, killed: dict) -> None:
    """Poll the store until a trial's cell run is RUNNING in a Ray worker, then SIGKILL that worker."""
    runs, deadline = Runs(root, "searchy"), time.monotonic() + KILL_TIMEOUT_S
    while time.monotonic() < deadline:
        for run in runs.all():
            if run.info.status == "RUNNING" and Tag.PROCESS in run.data.tags:
                pid = int(run.data.tags[Tag.PROCESS].split(":")[1])
                os.kill(pid, signal.SIGKILL)
                killed.update(pid=pid, run_id=run.info.run_id, trial=int(run.data.tags[Tag.TRIAL]))
                return
        time.sleep(0.2)


@pytest.mark.ray
def test_a_ray_worker_killed_mid_trial_is_replaced_and_its_trial_run_again_with_no_duplicate(
    enter, ray_cluster, capsys
):
    root = enter("kill", KILLED)
    killed: dict = {}
    killer = threading.Thread(target=kill_first_running, args=(root, killed))
    killer.start()
    try:
        assert cli_run(root / "search.yaml", "--backend", "ray", "--workers", "2") == 0
    finally:
        killer.join()
    assert killed and killed["pid"] != os.getpid()
    assert "a search task failed" in capsys.readouterr().err

    trials = optuna_trials(root)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == 3 and not [t for t in trials if t.state.name in ("RUNNING", "WAITING")]
    dead = trials[killed["trial"]]
    assert dead.state.name == "FAIL" and "study.failure" not in dead.user_attrs  # not an outcome: not counted
    (retry,) = [t for t in trials if t.user_attrs.get("study.retry_of") == dead.number]
    assert retry.state.name == "COMPLETE" and retry.params == dead.params
    runs = Runs(root, "searchy")
    lost = runs.client.get_run(killed["run_id"])
    assert lost.info.status == "KILLED" and "ended without closing the run" in lost.data.tags[Tag.FAILURE]
    finished = runs.finished_by_hash()
    assert len(finished) == 3 and all(len(v) == 1 for v in finished.values())  # no configuration twice
    assert {t.user_attrs["study.runs"]["0"] for t in complete} == {v[0].info.run_id for v in finished.values()}

    before = {r.info.run_id for r in runs.all()}
    assert cli_run(root / "search.yaml") == 0  # the budget is met: a re-run trains nothing
    assert {r.info.run_id for r in runs.all()} == before and len(optuna_trials(root)) == len(trials)
