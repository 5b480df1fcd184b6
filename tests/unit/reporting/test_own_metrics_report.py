"""Your own `train.metrics` in the report: the reader finds them among the runs' summary metrics, the per-run
and per-cell tables carry their final values, the summary table shows their mean ± CI over seeds, and each
metric gets learning curves of its own (train and test, one panel per cell)."""

from __future__ import annotations

import shutil

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric

from study.reporting import figures  # the module: a test_* name imported would be collected
from study.reporting.context import build_context
from study.reporting.html import _summary_table
from study.store.reader import find_experiment, find_parent, load_study_runs
from tests.support.handbuilt import finish_parent, log_cell, start_parent

TOP3 = {"relu": [0.90, 0.92], "sigmoid": [0.60, 0.64]}  # final test top-3 accuracy by cell, per seed
SPLITS, STEPS = ("train", "test"), (10, 20, 30)  # the own metric's history: value * step / 30 on each split


@pytest.fixture
def own_metrics_study(tmp_path, blank_db):
    shutil.copy(blank_db, tmp_path / "mlflow.db")
    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.create_experiment("own", artifact_location=str(tmp_path / "artifacts"))
    parent = start_parent(client, experiment, "own", ["model.activation"])
    for activation, values in TOP3.items():
        for seed, value in enumerate(values):
            own = [Metric("final_test_top3", value, 0, 30)]
            own += [Metric(f"{split}_top3", value * step / 30, 0, step) for split in SPLITS for step in STEPS]
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
    return client


def _load(client, own_curves: bool):
    experiment = find_experiment(client, "own")
    return load_study_runs(client, experiment, find_parent(client, experiment), own_curves=own_curves)


def test_the_summary_table_shows_each_own_metric_over_the_seeds(own_metrics_study):
    study = _load(own_metrics_study, own_curves=False)
    assert study.task.metrics == ("top3",)
    ctx = build_context(study)
    assert sorted(ctx.per_run["final_test_top3"]) == [0.60, 0.64, 0.90, 0.92]
    assert ctx.summary.set_index("cell").loc["relu", "final_test_top3_mean"] == pytest.approx(0.91)
    html = _summary_table(ctx)
    assert ">Final test top3</th>" in html
    assert "0.91 ± " in html and "0.62 ± " in html


def test_each_own_metric_is_drawn_per_cell_on_every_split_it_was_evaluated_on(own_metrics_study):
    (figure,) = figures.own_metric_curves(build_context(_load(own_metrics_study, own_curves=True)))
    assert figure.slug == "own_metric_top3" and figure.title == "Your own metric: top3"
    assert "dashed" in figure.caption and "validation" not in figure.caption  # no val_top3 was logged
    panels = {ax.get_title(): ax for ax in figure.figure.axes if ax.get_lines()}
    assert sorted(panels) == ["relu", "sigmoid"]
    means = {ax.get_title(): sorted(line.get_ydata()[-1] for line in ax.get_lines()) for ax in panels.values()}
    assert means["relu"] == pytest.approx([0.91, 0.91]) and means["sigmoid"] == pytest.approx([0.62, 0.62])
    styles = {line.get_linestyle() for ax in panels.values() for line in ax.get_lines()}
    assert styles == {"--", "-"}  # train dashed, test solid
    assert [line.get_xdata().tolist() for line in panels["relu"].get_lines()] == [list(STEPS)] * 2


def test_without_their_histories_no_own_metric_figure_is_drawn(own_metrics_study):
    assert figures.own_metric_curves(build_context(_load(own_metrics_study, own_curves=False))) == []
