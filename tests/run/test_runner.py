"""A tiny study trained for real into a throwaway MLflow store, checked against docs/store-layout.md.

One module-scoped store holds the first run of a two-cell study; the other tests add to it
(a skipping re-run, a forced re-run, a diverging study) or train once more beside it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from study import cli
from study.grid import Cell, expand
from study.run.cell import cell_data
from study.run.runner import StudyResult, run_study
from study.studyfile import load_study

pytestmark = pytest.mark.slow

ITERATIONS, EVAL_EVERY = 60, 10
EVAL_STEPS = list(range(0, ITERATIONS + 1, EVAL_EVERY))
CURVES = ("train_loss", "train_acc", "test_acc", "test_loss")

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

# The first cell's learning rate drives relu/he to a NaN loss within a few iterations (at lr 1000 the loss
# reaches ~1e22 but stays finite and the relus die, so that cell would finish); the second must still run.
DIVERGING = """\
study: e2e_diverge
base:
  data: {{name: mnist, dir: {data_dir}, train_size: 500, test_size: 200}}
  model: {{hidden: [40, 20]}}
  train: {{iterations: 60, batch_size: 50, eval_every: 10}}
grid:
  net:
    - {{label: exploding, model.activation: relu, model.initializer: he, optimizer.lr: 1.0e+5}}
    - {{label: fine, model.activation: sigmoid, model.initializer: xavier, optimizer.lr: 0.1}}
"""


@dataclass
class Trained:
    """The module's store after the first run of STUDY."""

    root: Path
    path: Path
    cells: list[Cell]
    result: StudyResult
    client: MlflowClient
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


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir) -> Trained:
    """Run STUDY once into a fresh default store (./mlruns of a temporary directory)."""
    root = tmp_path_factory.mktemp("e2e")
    path = root / "e2e.yaml"
    path.write_text(study_text(STUDY, mnist_dir), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        study = load_study(path)
        result = run_study(study, progress=False)
    client = MlflowClient(result.tracking_uri)
    return Trained(root, path, expand(study), result, client, client.get_experiment_by_name("e2e").experiment_id)


@pytest.fixture
def in_store(trained, monkeypatch) -> Trained:
    """Work inside the module's store directory (for tests that run the study again)."""
    monkeypatch.chdir(trained.root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return trained


# --- the store layout ----------------------------------------------------------------------


def test_store_is_the_default_sqlite_under_mlruns(trained):
    assert trained.result.tracking_uri == f"sqlite:///{trained.root / 'mlruns' / 'mlflow.db'}"
    assert (trained.root / "mlruns" / "mlflow.db").is_file()
    assert trained.result.exit_code == 0
    assert [r.status for r in trained.result.results] == ["done", "done"]


def test_one_experiment_with_the_description(trained):
    named = [e for e in trained.client.search_experiments() if e.name == "e2e"]
    assert len(named) == 1
    assert named[0].tags["mlflow.note.content"] == "Two tiny cells for the end-to-end tests."


def test_parent_run_with_manifest_and_study_file(trained):
    parent = trained.client.get_run(trained.result.parent_id)
    tags = parent.data.tags
    assert tags["study.role"] == "parent" and tags["study.name"] == "e2e"
    assert tags["study.n_cells"] == "2" and json.loads(tags["study.axes"]) == ["model.activation"]
    assert tags["study.config_file"] == str(trained.path)
    assert parent.info.status == "FINISHED" and parent.info.run_name.startswith("e2e ")
    assert "wall_time_s" in parent.data.metrics
    assert {a.path for a in trained.client.list_artifacts(parent.info.run_id)} >= {"study.yaml", "cells.json"}
    study_yaml = trained.client.download_artifacts(parent.info.run_id, "study.yaml", str(trained.root))
    assert load_study(study_yaml).spec.grid == {"model.activation": ["sigmoid", "relu"]}
    manifest = json.loads(Path(trained.client.download_artifacts(parent.info.run_id, "cells.json",
                                                                 str(trained.root))).read_text())
    children = trained.children(parent.info.run_id)
    assert [(m["name"], m["config_hash"], m["seed"], m["run_id"], m["status"]) for m in manifest] == [
        (c.name, c.config_hash, c.seed, r.info.run_id, "done") for c, r in zip(trained.cells, children)]


def test_exactly_one_parent_and_two_children_after_the_first_run(trained):
    parents = trained.client.search_runs([trained.experiment_id], "tags.`study.role` = 'parent'")
    first = [p for p in parents if p.info.run_id == trained.result.parent_id]
    assert len(first) == 1
    children = trained.children(trained.result.parent_id)
    assert [r.info.run_name for r in children] == ["sigmoid · seed 0", "relu · seed 0"]
    assert all(r.info.status == "FINISHED" for r in children)


def test_child_tags_and_params(trained):
    for cell, run in zip(trained.cells, trained.children(trained.result.parent_id)):
        tags, params = run.data.tags, run.data.params
        assert tags["mlflow.parentRunId"] == trained.result.parent_id
        assert tags["study.role"] == "cell" and tags["study.cell"] == cell.group
        assert tags["study.config_hash"] == cell.config_hash and tags["study.seed"] == "0"
        assert tags["study.dataset"] == "mnist"
        assert tags["study.dataset_digest"] == cell_data(cell).digest and len(tags["study.dataset_digest"]) == 16
        assert tags["study.versions.tensorflow"] and tags["study.versions.mlflow"]
        assert tags["axis.activation"] == cell.settings.model.activation
        assert params["model.activation"] == params["activation"] == cell.settings.model.activation
        assert params["train.iterations"] == "60" and params["optimizer.lr"] == "0.1"
        assert params["model.hidden"] == "[40,20]" and params["seed"] == "0"


def test_metric_histories_follow_the_protocol(trained):
    for run in trained.children(trained.result.parent_id):
        run_id = run.info.run_id
        loss = trained.history(run_id, "train_loss")
        assert [s for s, _ in loss] == list(range(1, ITERATIONS + 1))
        assert all(np.isfinite(v) and v > 0 for _, v in loss)
        for key in ("test_acc", "train_acc", "test_loss"):
            assert [s for s, _ in trained.history(run_id, key)] == EVAL_STEPS, key
        test_acc = trained.history(run_id, "test_acc")
        assert all(0 <= v <= 1 for _, v in test_acc)
        assert run.data.metrics["final_test_acc"] == test_acc[-1][1]
        assert run.data.metrics["best_test_acc"] == max(v for _, v in test_acc)
        assert run.data.metrics["final_train_acc"] == trained.history(run_id, "train_acc")[-1][1]


def test_relu_learns_in_sixty_iterations(trained):
    relu = trained.children(trained.result.parent_id)[1]
    acc = trained.history(relu.info.run_id, "test_acc")
    assert acc[-1][1] > 0.5 > acc[0][1]  # from chance to well above it on 500 images


def test_child_artifacts(trained):
    for cell, run in zip(trained.cells, trained.children(trained.result.parent_id)):
        names = {a.path for a in trained.client.list_artifacts(run.info.run_id)}
        assert names >= {"config.yaml", "learning_curve.png"}
        png = Path(trained.client.download_artifacts(run.info.run_id, "learning_curve.png", str(trained.root / "dl")))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        config = Path(trained.client.download_artifacts(run.info.run_id, "config.yaml", str(trained.root / "dl")))
        assert f"config_hash: {cell.config_hash}" in config.read_text()


# --- running again ----------------------------------------------------------------------------


def test_second_run_skips_finished_cells(in_store):
    before = len(in_store.all_cell_runs())
    again = run_study(load_study(in_store.path), progress=False)
    assert [r.status for r in again.results] == ["skipped", "skipped"]
    assert [r.run_id for r in again.results] == [r.info.run_id for r in in_store.children(in_store.result.parent_id)]
    assert again.exit_code == 0
    assert len(in_store.all_cell_runs()) == before
    assert in_store.children(again.parent_id) == []
    assert in_store.client.get_run(again.parent_id).data.tags["study.cells_skipped"] == "2"


def test_rerun_with_the_same_seed_is_bit_identical(in_store):
    again = run_study(load_study(in_store.path), rerun=True, progress=False)
    assert [r.status for r in again.results] == ["done", "done"]
    first, second = in_store.children(in_store.result.parent_id), in_store.children(again.parent_id)
    assert len(second) == 2
    for a, b in zip(first, second):
        assert a.info.run_id != b.info.run_id
        assert a.data.tags["study.config_hash"] == b.data.tags["study.config_hash"]
        for key in CURVES:
            assert in_store.history(a.info.run_id, key) == in_store.history(b.info.run_id, key), key


class Recorder:
    """A callback that keeps every value the engine hands out."""

    def __init__(self):
        self.curves: dict[str, list[tuple[int, float]]] = {key: [] for key in CURVES}

    def set_model(self, model):
        pass

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_chunk_end(self, records):
        self.curves["train_loss"] += list(zip(records.steps.tolist(), records.train_loss.tolist()))
        for key in ("train_acc", "test_acc", "test_loss"):
            self.curves[key] += list(zip(records.eval_steps.tolist(), getattr(records, key).tolist()))

    def on_train_end(self, logs=None):
        self.summary = logs


@pytest.mark.parametrize("step_by_step, steps_per_call", [(True, None), (False, 20)],
                         ids=["one iteration per call", "three chunks"])
def test_engine_schedule_does_not_change_the_numbers(trained, step_by_step, steps_per_call):
    """The stored run came from one 60-iteration graph call; the reference loop and a 3-chunk
    schedule must give exactly the same values (exact float equality, not just close)."""
    from study.engine.train import train_and_evaluate

    cell = trained.cells[1]
    chunked = trained.children(trained.result.parent_id)[1]
    train = cell.settings.train.model_copy(update={"steps_per_call": steps_per_call})
    settings = cell.settings.model_copy(update={"train": train})
    recorder = Recorder()
    summary = train_and_evaluate(settings, cell.seed, cell_data(cell), [recorder], step_by_step=step_by_step)
    for key in CURVES:
        assert recorder.curves[key] == trained.history(chunked.info.run_id, key), key
    assert summary.final_test_acc == chunked.data.metrics["final_test_acc"]


# --- failures ---------------------------------------------------------------------------------


def test_diverging_cell_fails_and_the_study_goes_on(in_store, mnist_dir):
    path = in_store.root / "diverge.yaml"
    path.write_text(study_text(DIVERGING, mnist_dir), encoding="utf-8")
    result = run_study(load_study(path), progress=False)
    assert [r.status for r in result.results] == ["failed", "done"]
    assert result.exit_code == 1
    failed, fine = result.results
    assert "loss became" in failed.failure and "iteration" in failed.failure

    run = in_store.client.get_run(failed.run_id)
    assert run.info.status == "FAILED"
    assert "loss became" in run.data.tags["study.failure"]
    step = int(run.data.tags["study.failure_step"])
    assert 1 <= step <= ITERATIONS
    losses = in_store.history(failed.run_id, "train_loss")
    assert [s for s, _ in losses] == list(range(1, step + 1))  # everything up to the bad iteration kept
    assert not np.isfinite(losses[-1][1]) and all(np.isfinite(v) for _, v in losses[:-1])
    assert "final_test_acc" not in run.data.metrics
    assert {a.path for a in in_store.client.list_artifacts(failed.run_id)} >= {"config.yaml"}

    assert in_store.client.get_run(fine.run_id).info.status == "FINISHED"
    parent = in_store.client.get_run(result.parent_id)
    assert parent.data.tags["study.cells_failed"] == "1" and parent.info.status == "FINISHED"


# --- the command line ---------------------------------------------------------------------


def test_cli_run_and_dry_run(store, write_study, mnist_dir, capsys):
    path = write_study(study_text(STUDY, mnist_dir).replace("study: e2e\n", "study: e2e_cli\n"))
    assert cli.main(["run", str(path), "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    rows = out.splitlines()
    assert len(rows) == 2 and rows[0].endswith("sigmoid · seed 0") and rows[1].endswith("relu · seed 0")

    assert cli.main(["run", str(path), "--quiet", "--set", "grid.model.activation=[relu]"]) == 0
    out, err = capsys.readouterr()
    assert "relu · seed 0" in out and "done" in out and "1 cells, 0 failed" in out
    assert "it/s" not in err  # --quiet: no progress bar
    runs = store.client.search_runs([store.client.get_experiment_by_name("e2e_cli").experiment_id],
                                    "tags.`study.role` = 'cell'")
    assert [(r.info.run_name, r.info.status) for r in runs] == [("relu · seed 0", "FINISHED")]
