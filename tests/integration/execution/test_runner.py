"""A tiny study trained for real into a throwaway MLflow store, checked against docs/store-layout.md:
the experiment, the parent run and its manifest (study/execution/driver.py), skipping and re-running, a
diverging cell, the command line.

The package-scoped store of tests/integration/execution/conftest.py (`trained`) holds the first run of a two-cell study;
the tests here add to it (a skipping re-run, a forced re-run, a diverging study) or train once more
beside it. What each cell's run holds is checked in tests/integration/execution/test_cell.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from study import cli
from study.check.estimate import trained_parts
from study.check.validated_study import load_study
from study.data.shape import data_shape
from study.execution.driver import run_study
from study.execution.options import RunOptions
from study.plan.grid import expand
from study.runtime.calibration import Observed, calibration
from study.runtime.rate import machine_rate
from tests.support.runs import CURVES, ITERATIONS, STUDY, study_text

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
    manifest = json.loads(
        Path(trained.client.download_artifacts(parent.info.run_id, "cells.json", str(trained.root))).read_text()
    )
    children = trained.children(parent.info.run_id)
    assert [(m["name"], m["config_hash"], m["seed"], m["run_id"], m["status"]) for m in manifest] == [
        (c.name, c.config_hash, c.seed, r.info.run_id, "done") for c, r in zip(trained.cells, children)
    ]


def test_exactly_one_parent_and_two_children_after_the_first_run(trained):
    parents = trained.client.search_runs([trained.experiment_id], "tags.`study.role` = 'parent'")
    first = [p for p in parents if p.info.run_id == trained.result.parent_id]
    assert len(first) == 1
    children = trained.children(trained.result.parent_id)
    assert [r.info.run_name for r in children] == ["sigmoid · seed 0", "relu · seed 0"]
    assert all(r.info.status == "FINISHED" for r in children)


# --- running again ----------------------------------------------------------------------------


PARENTS = "tags.`study.role` = 'parent'"


def test_second_run_with_nothing_to_train_opens_no_run_and_starts_no_trainer(in_store, monkeypatch, capsys):
    import study.execution.trainer as trainer

    def no_trainer(*args, **kwargs):
        raise AssertionError("a training process was asked for")

    monkeypatch.setattr(trainer, "trainer_for", no_trainer)

    def parents() -> set[str]:
        return {p.info.run_id for p in in_store.client.search_runs([in_store.experiment_id], PARENTS)}

    before, cells_before = parents(), len(in_store.all_cell_runs())
    again = run_study(load_study(in_store.path), RunOptions(progress=False))
    assert [r.status for r in again.results] == ["skipped", "skipped"] and again.exit_code == 0
    assert parents() == before and again.parent_id in before  # the parent run that trained them, no new one
    assert [r.run_id for r in again.results] == [r.info.run_id for r in in_store.children(again.parent_id)]
    assert len(in_store.all_cell_runs()) == cells_before
    err = capsys.readouterr().err
    assert f"nothing to train: all 2 cells are FINISHED in {again.tracking_uri} (parent run {again.parent_id})" in err


def test_rerun_with_the_same_seed_is_bit_identical(in_store):
    again = run_study(load_study(in_store.path), RunOptions(rerun=True, progress=False))
    assert [r.status for r in again.results] == ["done", "done"]
    first, second = in_store.children(in_store.result.parent_id), in_store.children(again.parent_id)
    assert len(second) == 2
    for a, b in zip(first, second):
        assert a.info.run_id != b.info.run_id
        assert a.data.tags["study.config_hash"] == b.data.tags["study.config_hash"]
        for key in CURVES:
            assert in_store.history(a.info.run_id, key) == in_store.history(b.info.run_id, key), key


# --- failures ---------------------------------------------------------------------------------


def test_diverging_cell_fails_and_the_study_goes_on(in_store, mnist_dir, tmp_path, monkeypatch):
    """...and only the finished cell corrects this machine's later estimates (study/runtime/calibration.py)."""
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    path = in_store.root / "diverge.yaml"
    path.write_text(study_text(DIVERGING, mnist_dir), encoding="utf-8")
    study = load_study(path)
    result = run_study(study, RunOptions(progress=False))
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

    cells = expand(study)
    estimated = trained_parts(cells, {cells[0].settings.data: data_shape(cells[0].settings.data)}, machine_rate())
    assert calibration().kinds == {"exact/dense": Observed.cell(*estimated[1], fine.metrics["wall_time_s"])}


# --- the command line ---------------------------------------------------------------------


def test_cli_run_and_dry_run(store, write_study, mnist_dir, capsys):
    path = write_study(study_text(STUDY, mnist_dir).replace("study: e2e\n", "study: e2e_cli\n"))
    assert cli.main(["run", str(path), "--dry-run"]) == 0
    out, _ = capsys.readouterr()
    rows = [row for row in out.splitlines() if " · seed " in row]  # each cell's line; its settings below it
    assert len(rows) == 2 and rows[0].endswith("sigmoid · seed 0") and rows[1].endswith("relu · seed 0")

    assert cli.main(["run", str(path), "--quiet", "--set", "grid.model.activation=[relu]"]) == 0
    out, err = capsys.readouterr()
    assert "relu · seed 0" in out and "done" in out and "1 cell × 1 seed = 1 run, 0 failed" in out
    assert "it/s" not in err  # --quiet: no progress bar
    runs = store.client.search_runs(
        [store.client.get_experiment_by_name("e2e_cli").experiment_id], "tags.`study.role` = 'cell'"
    )
    assert [(r.info.run_name, r.info.status) for r in runs] == [("relu · seed 0", "FINISHED")]
