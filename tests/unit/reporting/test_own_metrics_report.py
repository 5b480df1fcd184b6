"""Your own `train.metrics` in the report: the reader finds them among the runs' summary metrics, the per-run
and per-cell tables carry their final values, and the summary table shows their mean ± CI over seeds."""

from __future__ import annotations

import shutil

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from study.reporting.context import build_context
from study.reporting.html import _summary_table
from study.store.reader import find_experiment, find_parent, load_study_runs
from tests.support.handbuilt import finish_parent, log_cell, start_parent

TOP3 = {"relu": [0.90, 0.92], "sigmoid": [0.60, 0.64]}  # final test top-3 accuracy by cell, per seed


@pytest.fixture
def own_metrics_study(tmp_path, blank_db):
    shutil.copy(blank_db, tmp_path / "mlflow.db")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("own", artifact_location=str(tmp_path / "artifacts"))
    parent = start_parent(client, experiment, "own", ["model.activation"])
    for activation, values in TOP3.items():
        for seed, value in enumerate(values):
            own = [Metric("final_test_top3", value, 0, 30), Metric("test_top3", value, 0, 30)]
            log_cell(
                client,
                experiment,
                parent,
                {"activation": activation},
                seed,
                [0.1, 0.5, 0.7, 0.8],
                0.0,
                False,
                (own, {}),
            )
    finish_parent(client, parent, None, tmp_path)
    return load_study_runs(client, find_experiment(client, "own"), find_parent(client, find_experiment(client, "own")))


def test_the_summary_table_shows_each_own_metric_over_the_seeds(own_metrics_study):
    assert own_metrics_study.task.metrics == ("top3",)
    ctx = build_context(own_metrics_study)
    assert sorted(ctx.per_run["final_test_top3"]) == [0.60, 0.64, 0.90, 0.92]
    assert ctx.summary.set_index("cell").loc["relu", "final_test_top3_mean"] == pytest.approx(0.91)
    html = _summary_table(ctx)
    assert ">Final test top3</th>" in html
    assert "0.91 ± " in html and "0.62 ± " in html
