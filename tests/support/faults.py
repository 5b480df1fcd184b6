"""The fault study and its harness: `study run` in a subprocess, optionally through HARNESS (which
patches one runner function to SIGKILL its own process at an exact point, or to race another process),
the cell runs' states read straight from SQLite, and what a whole FINISHED cell run holds. Used by the
reliability, load and tracking-server tests."""

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
