"""The fault study and its faults: `study run` in a subprocess, optionally with a fault point of the
library armed (STUDY_FAULTS, study/execution/faults.py: SIGKILL its own process at an exact point, or race
another process), the cell runs' states read straight from SQLite, and what a whole FINISHED cell run
holds. Used by the reliability, load and tracking-server tests."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from tests.support.runs import CURVES, DATA_ENV, Runs

CHILD_TIMEOUT_S = 240  # a killed or racing `study run` subprocess on a loaded 2-core machine


def assert_whole(runs: Runs, run, iterations: int, eval_every: int) -> None:
    """A FINISHED cell run holds its full histories, its summary metrics and both artifacts."""
    run_id = run.info.run_id
    assert runs.steps(run_id, "train_loss") == list(range(1, iterations + 1)), run.info.run_name
    for key in CURVES[1:]:
        assert runs.steps(run_id, key) == list(range(0, iterations + 1, eval_every)), (run.info.run_name, key)
    assert {"final_test_acc", "best_test_acc", "final_train_acc", "wall_time_s"} <= set(run.data.metrics)
    assert {a.path for a in runs.client.list_artifacts(run_id)} >= {"config.yaml", "learning_curve.png"}


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

# Fault points of the library (study/execution/faults.py), named to `study run` by STUDY_FAULTS.
FAULTS_ENV = "STUDY_FAULTS"
BEFORE_CELLS = "before-cells=kill"  # the parent run exists and holds study.yaml; no cell has started
SLOW_CHUNKS = "chunk=sleep:0.05"  # every chunk's metrics sent at once, and chunks 50 ms apart: a long mid-cell


def after_cell(k: int) -> str:
    """Cells 1..k FINISHED and fully written; cell k+1 not started."""
    return f"after-cell:{k}=kill"


def race(barrier: Path, processes: int = 2) -> str:
    """All processes take their first claim together, and the check-to-create gap is widened to 0.5 s."""
    return f"cell=barrier:{processes}:{barrier},claimed=sleep:0.5"


def faults_spec(point: str) -> str:
    """A STUDY_FAULTS value: `point` itself, or one of the older names (before-cells, after-cell-K,
    slow-chunks, race:DIR)."""
    if "=" in point:
        return point
    if point == "before-cells":
        return BEFORE_CELLS
    if point.startswith("after-cell-"):
        return after_cell(int(point.rsplit("-", 1)[1]))
    if point == "slow-chunks":
        return SLOW_CHUNKS
    if point.startswith("race:"):
        return race(Path(point[len("race:") :]))
    raise ValueError(f"unknown fault point {point!r}")


def child_env(mnist_dir: Path, cache: Path | None = None, point: str | None = None) -> dict[str, str]:
    """The study's environment; `cache` replaces the user's cache (XDG_CACHE_HOME), where the template of
    new stores is kept; `point` (faults_spec) sets STUDY_FAULTS."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", FAULTS_ENV)}
    env[DATA_ENV] = str(mnist_dir)
    if cache is not None:
        env["XDG_CACHE_HOME"] = str(cache)
    if point is not None:
        env[FAULTS_ENV] = faults_spec(point)
    return env


def start_study(
    root: Path, study: Path, mnist_dir: Path, point: str | None = None, tag: str = "run", extra: tuple[str, ...] = ()
) -> subprocess.Popen:
    """`study run STUDY --quiet` in a subprocess (with the fault point `point` armed when given, see
    faults_spec), output to files."""
    cmd = [sys.executable, "-m", "study.cli", "run", str(study), "--quiet", *extra]
    with open(root / f"{tag}.out", "wb") as out, open(root / f"{tag}.err", "wb") as err:
        env = child_env(mnist_dir, root / "cache", point)  # an empty cache: a new store's schema is migrated here
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=err)


def cell_states(db: Path, study: str | None = None) -> list[tuple[str, str, int]]:
    """(run id, status, train_loss points) of every cell run (of the study's experiment, when named),
    straight from SQLite: cheap enough to poll."""
    if not db.exists():
        return []
    only = "" if study is None else " join experiments e on e.experiment_id = r.experiment_id and e.name = ?"
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        return con.execute(
            "select r.run_uuid, r.status, (select count(*) from metrics m where m.run_uuid = r.run_uuid "
            "and m.key = 'train_loss') "
            f"from runs r{only} join tags t on t.run_uuid = r.run_uuid and t.key = 'study.role' and t.value = 'cell'",
            () if study is None else (study,),
        ).fetchall()
