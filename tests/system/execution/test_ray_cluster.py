"""A study across a Ray cluster of two nodes, as on two machines: the head and a second node started with
`ray start` on 127.0.0.1, each with its own temp dir and its own copy of the data (STUDY_DATA_DIR), the
driver (`study run`, a subprocess) joining by `--address`, and the runs on the session's tracking server,
which proxies the artifacts (`--artifacts-destination`: workers upload through it).

Every cell FINISHED exactly once, both nodes trained cells (Ray's logs on each node name the tasks its workers
ran), and nothing went to the driver's disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks.loopback_cluster import LoopbackCluster, start_cluster
from study.store.contract import Artifact
from study.store.runs import Store
from tests.support.runs import DATA_ENV
from tests.support.tracking_server import CHILD_TIMEOUT_S

pytest.importorskip("ray")

NAME = "two_nodes"
CELLS = 4
STUDY = f"""\
study: {NAME}
base:
  data: {{name: mnist, train_size: 500, test_size: 200}}
  model: {{hidden: [16]}}
  optimizer: {{name: sgd}}
  train: {{iterations: 40, batch_size: 50, eval_every: 20}}
grid:
  optimizer.lr: [0.02, 0.05, 0.1, 0.2]
seeds: [0]
"""


def copy_data(mnist_dir: Path, dest: Path) -> Path:
    """A node's own copy of the IDX files (what `ray start` on another machine would point at)."""
    dest.mkdir(parents=True)
    for file in mnist_dir.iterdir():
        if file.is_file():
            shutil.copy(file, dest / file.name)
    return dest


@pytest.fixture
def two_nodes(tmp_path: Path, mnist_dir: Path) -> Iterator[LoopbackCluster]:
    """Two one-CPU nodes, each with a data copy of its own; stopped (only they) at the end. Their temp
    dirs are short paths of the system's temp folder: Ray's socket paths must stay under 108 bytes."""
    envs = [{DATA_ENV: str(copy_data(mnist_dir, tmp_path / f"data{i}"))} for i in range(2)]
    root = Path(tempfile.mkdtemp(prefix="study-ray-"))
    try:
        cluster = start_cluster(root, [1, 1], sys.executable, envs)
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.ray
def test_a_study_across_two_nodes_finishes_every_cell_once_through_the_server(tmp_path, server, mnist_dir, two_nodes):
    uri, _ = server
    driver = tmp_path / "driver"
    driver.mkdir()
    (driver / "study.yaml").write_text(STUDY, encoding="utf-8")
    env = {**two_nodes.driver_env(), "MLFLOW_TRACKING_URI": uri, DATA_ENV: str(mnist_dir)}
    cmd = [sys.executable, "-m", "study.cli", "run", "study.yaml", "--quiet", "--backend", "ray"]
    done = subprocess.run(
        [*cmd, "--address", two_nodes.address],
        cwd=driver,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr[-3000:]

    store = Store(uri)
    exp_id = store.client.get_experiment_by_name(NAME).experiment_id
    cells = store.runs(exp_id, "tags.`study.role` = 'cell'")
    assert sorted(r.data.params["optimizer.lr"] for r in cells) == ["0.02", "0.05", "0.1", "0.2"]  # each once
    assert {r.info.status for r in cells} == {"FINISHED"}
    ran = two_nodes.tasks_run()  # Ray's own record, in each node's logs: the tasks its workers ran
    assert set(ran[0]) | set(ran[1]) == {r.info.run_name for r in cells}, ran
    assert ran[0] and ran[1], f"one node trained every cell: {ran}"
    for run in cells:
        assert run.info.artifact_uri.startswith("mlflow-artifacts:"), run.info.artifact_uri  # through the server
        assert {a.path for a in store.client.list_artifacts(run.info.run_id)} >= {Artifact.CELL_CONFIG}
        assert len(store.client.get_metric_history(run.info.run_id, "train_loss")) == 40
    assert sorted(p.name for p in driver.iterdir()) == ["study.yaml"]  # no store, no artifacts on the driver's disk
    assert os.environ.get("RAY_ADDRESS") is None
