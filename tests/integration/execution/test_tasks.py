"""A regression study end to end: `study run --report` on a CSV table written by
examples/make_regression_table.py; the runs carry the task's metrics and the report ranks by test MAE;
early stopping ends the cells at a known eval point and tags them."""

from __future__ import annotations

import csv
import importlib.util
from pathlib import Path

import pytest

from tests.support.paths import REPO
from tests.support.runs import Runs, cli_run, prepare_store

EXAMPLE = REPO / "examples" / "make_regression_table.py"
STUDY = """\
study: reg
base:
  data: {name: reg, format: csv, path: data/train.csv, test_path: data/test.csv, label_column: y, targets: real}
  model: {hidden: [8], activation: relu, initializer: he, loss: mse}  # base settings are a cell too: a regression one
  optimizer: {name: adam, lr: 0.02}
  train:
    iterations: 50
    batch_size: 20
    eval_every: 10
    eval_train: full
    diagnostics_every: 20
    early_stopping: {metric: test_mae, patience: 3, min_delta: 100.0}  # nothing improves by 100: stops at 30
grid:
  model.loss: [mse, mae]
seeds: [0]
expect:
  - {cells: {loss: mae}, final_test_mae: [0.0, 5.0], best_test_mae: [0.0, 5.0], source: "a regression range"}
"""


def write_table(out: Path) -> None:
    """The example script's table, small."""
    spec = importlib.util.spec_from_file_location("make_regression_table", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(out), "--train", "300", "--test", "100"])


def test_a_regression_study_is_tracked_and_reported_by_its_error(tmp_path, blank_db, monkeypatch):
    prepare_store(tmp_path, blank_db)
    write_table(tmp_path / "data")
    path = tmp_path / "reg.yaml"
    path.write_text(STUDY, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert cli_run(path, "--report") == 0
    runs = Runs(tmp_path, "reg")
    cells = runs.all()
    assert sorted(r.info.status for r in cells) == ["FINISHED", "FINISHED"]
    for run in cells:
        assert run.data.tags["study.task"] == "regression"
        metrics = run.data.metrics
        assert {"final_test_mae", "best_test_mae", "final_train_mae", "final_test_mse"} <= set(metrics)
        assert "final_test_acc" not in metrics and "test_acc" not in metrics
        steps = runs.steps(run.info.run_id, "test_mae")
        assert steps == [0, 10, 20, 30] and run.data.tags["study.stopped_at"] == "30"
        assert runs.steps(run.info.run_id, "train_loss")[-1] == 30
        history = [
            v for _, v in sorted((m.step, m.value) for m in runs.client.get_metric_history(run.info.run_id, "test_mae"))
        ]
        assert metrics["final_test_mae"] == history[-1] < history[0]
        if run.data.params["model.loss"] == "mae":
            assert metrics["final_test_loss"] == metrics["final_test_mae"]  # the loss is the MAE itself
    parent = runs.latest_parent()
    assert parent.data.tags["study.expect"] == "2 of 2 expectations met"
    report = tmp_path / "reports" / "reg" / "latest"
    html = (report / "report.html").read_text(encoding="utf-8")
    assert "final test MAE" in html and "Final test MAE" in html and "Final test acc" not in html
    assert "<th class=num>final test MAE</th>" in html and "(regression: no confusion matrix)" in html  # kept model
    with open(report / "summary.csv", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    maes = [float(row["final_test_mae_mean"]) for row in rows]
    assert maes == sorted(maes)  # best (lowest error) first
    by_loss = {run.data.params["model.loss"]: run.data.metrics["final_test_mae"] for run in cells}
    assert {row["axis.loss"]: float(row["final_test_mae_mean"]) for row in rows} == pytest.approx(by_loss)
