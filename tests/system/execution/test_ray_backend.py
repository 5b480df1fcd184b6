"""The Ray backend: same store as the local backend, and a killed task is marked and then completed.

One local Ray instance (127.0.0.1, 2 CPUs) serves the session's `ray` tests (`ray_cluster`,
tests/system/execution/conftest.py); the address probe needs no cluster. Every run writes a real SQLite store copied from one blank
store (`blank_db`), on real tiny MNIST subsets (STUDY_DATA_DIR); the tests skip without Ray or
without the data.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import pytest

from study.errors import StudyError
from study.execution.ray_backend import LOOPBACK_ENV, PROBE_TIMEOUT_S, probe
from tests.support.paths import REPO

os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when ray is imported: keep Ray on 127.0.0.1
ray = pytest.importorskip("ray")

from study.check.validated_study import load_study
from study.execution.driver import run_study
from study.execution.options import RunOptions
from study.plan.grid import expand  # noqa: E402
from study.store.runs import Store

FAST_SMOKE = ["train.iterations=60", "train.eval_every=20"]  # the smoke study in a few seconds
# The smoke study with its second cell a model of the user's own code (model.builder and a custom model.loss)
# and a custom metric on both cells: Ray ships the module to its workers and trains the very same numbers.
OWN_SMOKE = """\
study: ray_own
base:
  data: {name: mnist, train_size: 2000, test_size: 500}
  model: {hidden: [40, 20]}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 60, batch_size: 50, eval_every: 20, metrics: ["ray_own_code.py:top3"]}
grid:
  net:
    - {label: sigmoid · gauss(0.01), model.activation: sigmoid, model.initializer: gauss}
    - {label: own, model.builder: "ray_own_code.py:net", model.loss: "ray_own_code.py:cross_entropy",
       model.task: classification}
seeds: [0]
"""
OWN_CODE = """\
import keras


def net(args, input_shape, outputs):
    inputs = keras.Input(input_shape)
    hidden = keras.layers.Dense(40, activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(hidden))


def cross_entropy(y_true, y_pred):
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def top3(y_true, y_pred):
    return keras.metrics.sparse_top_k_categorical_accuracy(y_true, y_pred, k=3)
"""
RAY_CPUS = 2  # the session's local cluster (`ray_cluster`, conftest.py): two CPUs, whatever the machine has
KILL_TIMEOUT_S = 120  # how long the killer waits for the long cell's run to appear on a loaded machine

# One long cell to kill while it trains and one short one that must finish regardless. The long
# cell evaluates rarely so that its re-run stays cheap.
KILL_STUDY = """\
study: ray_kill
base:
  data: {name: mnist, train_size: 1000, test_size: 200}
  model: {hidden: [16]}
  optimizer: {name: sgd, lr: 0.1}
  train: {batch_size: 50}
grid:
  length:
    - {label: long, train.iterations: 10000, train.eval_every: 5000}
    - {label: short, train.iterations: 40, train.eval_every: 20}
seeds: [0]
"""


@pytest.fixture
def project(tmp_cwd, mnist_dir, monkeypatch, blank_db):
    """A function that makes a fresh working directory with a blank default store and enters it."""
    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))

    def enter(name: str) -> Path:
        root = tmp_cwd / name
        (root / "mlruns").mkdir(parents=True)
        shutil.copy(blank_db, root / "mlruns" / "mlflow.db")
        monkeypatch.chdir(root)
        return root

    return enter


def children(result) -> dict[str, object]:
    """Cell name -> child run of the result's parent, read back from the store."""
    store = Store(result.tracking_uri)
    exp_id = store.client.get_experiment_by_name(result.study).experiment_id
    runs = store.runs(exp_id, f"tags.`mlflow.parentRunId` = '{result.parent_id}'")
    return {r.info.run_name: r for r in runs}


def history(store: Store, run_id: str, key: str) -> list[tuple[int, float]]:
    """One metric's (step, value) pairs, in step order."""
    return sorted((m.step, m.value) for m in store.client.get_metric_history(run_id, key))


def cell_runs(uri: str, study_name: str) -> list:
    """Every cell run of the study in the store, whatever its parent."""
    store = Store(uri)
    exp_id = store.client.get_experiment_by_name(study_name).experiment_id
    return store.runs(exp_id, "tags.`study.role` = 'cell'")


@pytest.mark.ray
def test_ray_backend_writes_what_the_local_backend_writes(project, ray_cluster, write_study):
    write_study(OWN_CODE, "ray_own_code.py")
    study = load_study(write_study(OWN_SMOKE))
    project("ray")
    on_ray = run_study(study, RunOptions(backend="ray", progress=False))
    project("local")
    local = run_study(study, RunOptions(backend="local", progress=False))

    assert [r.status for r in on_ray.results] == ["done", "done"]
    assert [(r.cell.name, r.cell.config_hash) for r in on_ray.results] == [
        (r.cell.name, r.cell.config_hash) for r in local.results
    ]
    ray_runs, local_runs = children(on_ray), children(local)
    assert sorted(ray_runs) == sorted(local_runs) == sorted(r.cell.name for r in local.results)
    ray_store, local_store = Store(on_ray.tracking_uri), Store(local.tracking_uri)
    assert ray_store.client.get_run(on_ray.parent_id).info.status == "FINISHED"
    for name, run in ray_runs.items():
        twin = local_runs[name]
        assert run.info.status == twin.info.status == "FINISHED"
        assert run.data.tags["study.config_hash"] == twin.data.tags["study.config_hash"]
        assert int(run.data.tags["study.process"].split(":")[1]) != os.getpid()  # trained in a Ray worker
        for key in ("train_loss", "test_acc", "test_loss", "test_top3"):
            ours, theirs = history(ray_store, run.info.run_id, key), history(local_store, twin.info.run_id, key)
            assert len(ours) >= 3 and ours[-1][0] == 60
            assert ours == theirs, f"{name}: {key} differs between Ray and local"
    # nothing outside the one parent: every cell run of the experiment is one of its children
    assert {r.info.run_id for r in cell_runs(on_ray.tracking_uri, study.name)} == {
        r.info.run_id for r in ray_runs.values()
    }


def kill_when_running(uri: str, study_name: str, config_hash: str, killed: dict) -> None:
    """Poll the store until the cell's run is RUNNING, then SIGKILL the process its tag names."""
    store, deadline = Store(uri), time.monotonic() + KILL_TIMEOUT_S
    while time.monotonic() < deadline:
        exp = store.client.get_experiment_by_name(study_name)
        runs = (
            store.runs(
                exp.experiment_id, f"tags.`study.config_hash` = '{config_hash}' and attributes.status = 'RUNNING'"
            )
            if exp
            else []
        )
        if runs and "study.process" in runs[0].data.tags:
            pid = int(runs[0].data.tags["study.process"].split(":")[1])
            os.kill(pid, signal.SIGKILL)
            killed.update(pid=pid, run_id=runs[0].info.run_id)
            return
        time.sleep(0.2)


@pytest.mark.ray
def test_a_killed_task_fails_its_cell_and_a_rerun_completes_it(project, ray_cluster, write_study):
    study = load_study(write_study(KILL_STUDY))
    long_cell, short_cell = sorted(expand(study), key=lambda c: -c.settings.train.iterations)
    root = project("kill")
    uri = f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"
    killed: dict = {}
    killer = threading.Thread(target=kill_when_running, args=(uri, study.name, long_cell.config_hash, killed))
    killer.start()
    try:
        first = run_study(study, RunOptions(backend="ray", progress=False))
    finally:
        killer.join()

    assert killed and killed["pid"] != os.getpid()
    by_hash = {r.cell.config_hash: r for r in first.results}
    assert by_hash[short_cell.config_hash].status == "done"
    lost = by_hash[long_cell.config_hash]
    assert lost.status == "failed" and lost.run_id == killed["run_id"]
    assert "Ray worker died" in lost.failure
    run = Store(uri).client.get_run(killed["run_id"])
    assert run.info.status in ("KILLED", "FAILED")
    assert run.data.tags["study.failure"] == lost.failure

    second = run_study(study, RunOptions(backend="local", progress=False))
    by_hash = {r.cell.config_hash: r.status for r in second.results}
    assert by_hash == {long_cell.config_hash: "done", short_cell.config_hash: "skipped"}
    finished: dict[str, int] = {}
    for r in cell_runs(uri, study.name):
        if r.info.status == "FINISHED":
            finished[r.data.tags["study.config_hash"]] = finished.get(r.data.tags["study.config_hash"], 0) + 1
    assert finished == {long_cell.config_hash: 1, short_cell.config_hash: 1}


@pytest.mark.ray
def test_cpus_per_cell_no_cell_could_get_fail_before_the_store_is_touched(tmp_cwd, mnist_dir, monkeypatch, ray_cluster):
    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))
    study = load_study(REPO / "configs" / "smoke.yaml", FAST_SMOKE)
    with pytest.raises(StudyError, match=r"^--cpus-per-cell: 0 is not a positive number of CPUs$"):
        run_study(study, RunOptions(backend="ray", progress=False, cpus_per_cell=0))
    with pytest.raises(StudyError, match=rf"^--cpus-per-cell: 3 is more than the {RAY_CPUS} CPUs of the Ray cluster"):
        run_study(study, RunOptions(backend="ray", progress=False, cpus_per_cell=RAY_CPUS + 1))
    assert not (tmp_cwd / "mlruns").exists()


def test_an_address_where_nothing_listens_fails_at_once():
    with socket.socket() as sock:  # a loopback port that was free a moment ago and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    with pytest.raises(StudyError, match=rf"^--address: nothing answers at '127.0.0.1:{port}' \(Connection refused\)"):
        probe(f"127.0.0.1:{port}")
    assert time.monotonic() - start < PROBE_TIMEOUT_S
