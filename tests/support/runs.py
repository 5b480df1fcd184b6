"""Helpers shared by the tests of study/execution/: the tiny end-to-end study and its store (`Trained`),
read access to one study's runs (`Runs`), blank stores in a project directory, `study run` in this
process. The fixtures built on them are in tests/integration/execution/conftest.py."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from study import cli

if TYPE_CHECKING:
    from study.execution.parent import StudyResult
    from study.plan.grid import Cell

DATA_ENV = "STUDY_DATA_DIR"
CURVES = ("train_loss", "train_acc", "test_acc", "test_loss")

# --- the end-to-end study: two tiny cells trained once for the package ------------------------------

ITERATIONS, EVAL_EVERY = 60, 10
EVAL_STEPS = list(range(0, ITERATIONS + 1, EVAL_EVERY))

STUDY = """\
study: e2e
description: Two tiny cells for the end-to-end tests.
base:
  data: {{name: mnist, dir: {data_dir}, train_size: 500, test_size: 200}}
  model: {{hidden: [40, 20], initializer: he}}
  optimizer: {{name: sgd, lr: 0.1}}
  train: {{iterations: 60, batch_size: 50, eval_every: 10}}
grid:
  model.activation: [sigmoid, relu]
"""


@dataclass
class Trained:
    """The store after the first run of STUDY."""

    root: Path
    path: Path
    cells: list[Cell]
    result: StudyResult
    client: object  # mlflow.tracking.MlflowClient
    experiment_id: str

    def children(self, parent_id: str) -> list:
        """Child runs of one parent, in cell order (by run name's position in the grid)."""
        runs = self.client.search_runs([self.experiment_id], f"tags.`mlflow.parentRunId` = '{parent_id}'")
        order = {c.name: c.index for c in self.cells}
        return sorted(runs, key=lambda r: order[r.info.run_name])

    def all_cell_runs(self) -> list:
        return self.client.search_runs([self.experiment_id], "tags.`study.role` = 'cell'")

    def history(self, run_id: str, key: str) -> list[tuple[int, float]]:
        return sorted((m.step, m.value) for m in self.client.get_metric_history(run_id, key))


def study_text(template: str, data_dir: Path) -> str:
    return template.format(data_dir=json.dumps(str(data_dir)))


# --- a project directory with a blank store; one study's runs ------------------------------------------


def prepare_store(root: Path, blank_db: Path) -> Path:
    """Give `root` a default store (root/mlruns/mlflow.db) copied from the blank one; returns the db."""
    (root / "mlruns").mkdir()
    return Path(shutil.copy(blank_db, root / "mlruns" / "mlflow.db"))


def train_in_own_store(root: Path, blank_db: Path, study_file: Path):
    """Train a study file into a store of its own under `root` (root/mlruns), in this process with `root`
    as the working folder: the runner's StudyResult."""
    import pytest

    from study.check.validated_study import load_study
    from study.execution.driver import run_study
    from study.execution.options import RunOptions

    prepare_store(root, blank_db)
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        return run_study(load_study(study_file), RunOptions(progress=False))


def cli_run(path: Path, *args: str) -> int:
    """`study run PATH --quiet ARGS` in this process."""
    return cli.main(["run", str(path), "--quiet", *args])


def row_status(line: str) -> tuple[str, str]:
    """(cell name, status) of one row of the final table (columns are two or more spaces apart)."""
    name, rest = re.split(r"\s{2,}", line.strip(), maxsplit=1)
    return name, rest.split()[0]


@dataclass
class Runs:
    """Read access to one study's runs in the store under `root`."""

    root: Path
    study: str

    @property
    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(f"sqlite:///{self.root / 'mlruns' / 'mlflow.db'}")

    def all(self, role: str = "cell") -> list:
        exp = self.client.get_experiment_by_name(self.study)
        if exp is None:
            return []
        return self.client.search_runs([exp.experiment_id], f"tags.`study.role` = '{role}'", max_results=1000)

    def statuses(self, role: str = "cell") -> dict[str, int]:
        out: dict[str, int] = {}
        for run in self.all(role):
            out[run.info.status] = out.get(run.info.status, 0) + 1
        return out

    def finished_by_hash(self) -> dict[str, list]:
        out: dict[str, list] = {}
        for run in self.all():
            if run.info.status == "FINISHED":
                out.setdefault(run.data.tags["study.config_hash"], []).append(run)
        return out

    def steps(self, run_id: str, key: str) -> list[int]:
        return sorted(m.step for m in self.client.get_metric_history(run_id, key))

    def manifest(self, parent_id: str) -> list[dict]:
        path = self.client.download_artifacts(parent_id, "cells.json", str(self.root / f"dl-{parent_id}"))
        return json.loads(Path(path).read_text(encoding="utf-8"))

    def latest_parent(self):
        return max(self.all("parent"), key=lambda r: r.info.start_time)


# --- a study of two finished cells, run once per module: skipping, re-running, verifying ----------------

SKIP_STUDY = """\
study: skipdone
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
  optimizer.lr: [0.1]
"""


@dataclass
class SkipStore:
    root: Path
    path: Path
    runs: Runs
    first: list  # the two cell runs of the first `study run`


def enqueue(root: Path, points: tuple[dict, ...]) -> None:
    """Queue trials in the search's Optuna study (its name computed as the driver does), before it runs."""
    from study.check.validated_study import load_study
    from study.execution.datasets import dataset_digest
    from study.execution.trials import SearchJob, first_point, open_search
    from study.plan.space import search_identity, search_space, trial_cells

    study = load_study(root / "search.yaml")
    params = search_space(study)
    digest = dataset_digest(study, trial_cells(study, params, 0, first_point(params)))
    name = f"{study.name}-{search_identity(study, digest)}"
    ostudy = open_search(SearchJob(study, [], "", "", f"sqlite:///{root / 'mlruns' / 'mlflow.db'}", digest, name))
    for point in points:
        ostudy.enqueue_trial(point)
