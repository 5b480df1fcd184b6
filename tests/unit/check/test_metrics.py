"""Validation metrics named in a study file (study/check/metrics.py, study/spec/summary_metrics.py): a search
objective, an `expect:` range and the model-keeping rule may name any val_* summary metric when the study
holds a validation set out, one line (exit 2, nothing written) when it does not; the search's direction
follows the metric. The kept model chosen by it, for real: tests/integration/execution/test_best_model.py."""

from __future__ import annotations

import pytest
import yaml

from study.check.metrics import check_metrics
from study.check.validated_study import study_from_dict
from study.cli import main
from study.errors import ConfigError
from study.plan.grid import expand
from study.spec.summary_metrics import SUMMARY_METRIC_NAMES, goal
from tests.support.searches import good
from tests.support.studies import SMOKE

VALIDATION = {"size": 100}


def search_doc(metric: str, validation: bool = True, **base) -> dict:
    doc = good()
    doc["search"]["metric"] = metric
    if validation:
        doc["base"]["data"]["validation"] = VALIDATION
    doc["base"].update(base)
    return doc


@pytest.mark.parametrize(
    "metric, loss, direction",
    [
        ("best_val_acc", "cross_entropy", "maximize"),
        ("final_val_acc", "cross_entropy", "maximize"),
        ("final_val_loss", "cross_entropy", "minimize"),
        ("best_val_mae", "mse", "minimize"),
        ("final_val_mae", "mae", "minimize"),
    ],
)
def test_a_search_may_be_scored_on_validation_data_in_the_metrics_direction(metric, loss, direction):
    study = study_from_dict(search_doc(metric, model={"loss": loss}), "s.yaml")
    assert study.spec.search.metric == metric and study.spec.search.goal == direction


def test_a_validation_objective_without_a_validation_set_is_one_line_naming_what_to_set():
    with pytest.raises(ConfigError) as err:
        study_from_dict(search_doc("best_val_acc", validation=False), "s.yaml")
    assert str(err.value).startswith("s.yaml: search.metric: 'best_val_acc' needs data.validation")


def test_another_tasks_validation_metric_is_refused_with_the_valid_ones():
    with pytest.raises(ConfigError) as err:
        study_from_dict(search_doc("best_val_mae"), "s.yaml")
    assert "search.metric: 'best_val_mae' is not a metric of this study's cells (valid: final_test_acc" in str(
        err.value
    )
    assert "best_val_acc)" in str(err.value)


def test_the_direction_of_a_validation_loss_is_minimize():
    doc = search_doc("final_val_loss")
    doc["search"]["direction"] = "maximize"
    with pytest.raises(ConfigError, match="direction: maximize final_val_loss would look for the worst trial"):
        study_from_dict(doc, "s.yaml")
    assert {m: goal(m) for m in SUMMARY_METRIC_NAMES if m.startswith("best_")} == {
        "best_test_acc": "maximize",
        "best_val_acc": "maximize",
        "best_test_mae": "minimize",
        "best_val_mae": "minimize",
    }


def test_a_grid_samplers_metric_is_its_model_keeping_rule_and_is_checked_as_the_search_metric():
    doc = search_doc("best_val_acc")
    doc["search"].update(sampler="grid", params={"model.activation": {"choice": ["relu", "tanh"]}})
    del doc["search"]["trials"]
    study = study_from_dict(doc, "s.yaml")
    assert study.spec.search is None and study.spec.tracking.keep_metric == "best_val_acc"
    del doc["base"]["data"]["validation"]
    with pytest.raises(ConfigError, match=r"^s.yaml: search.metric: 'best_val_acc' needs data.validation"):
        study_from_dict(doc, "s.yaml")


def grid_study(extra: str, validation: bool):
    text = SMOKE.replace("test_size: 200}", "test_size: 200, validation: {size: 100}}") if validation else SMOKE
    return study_from_dict(yaml.safe_load(text + extra), "s.yaml")


@pytest.mark.parametrize(
    "extra, key",
    [
        ("tracking: {keep_metric: final_val_acc}\n", "tracking.keep_metric: 'final_val_acc'"),
        (
            "expect:\n  - {cells: {activation: relu}, best_val_acc: [0.1, 1]}\n",
            "expect[0].best_val_acc: 'best_val_acc'",
        ),
        (
            "expect:\n  - {final_test_acc: [0, 1], final_val_loss: [0, 9]}\n",
            "expect[0].final_val_loss: 'final_val_loss'",
        ),
    ],
)
def test_keep_metric_and_expect_may_name_validation_metrics_only_with_a_validation_set(extra, key):
    with_validation = grid_study(extra, validation=True)
    check_metrics(with_validation, expand(with_validation))
    without = grid_study(extra, validation=False)
    with pytest.raises(ConfigError) as err:
        check_metrics(without, expand(without))
    assert str(err.value).startswith(f"s.yaml: {key} needs data.validation, a validation set held out of the training")


def test_a_refused_validation_expectation_is_one_line_exit_2_and_writes_nothing(
    write_study, tmp_cwd, capsys, mnist_dir
):
    text = SMOKE.replace("name: mnist,", f"name: mnist, dir: {mnist_dir},")
    path = write_study(text + "expect:\n  - {best_val_acc: [0.1, 1]}\n")
    assert main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: {path}: expect[0].best_val_acc: 'best_val_acc' needs data.validation, a validation set held out "
        "of the training data (e.g. `data: {validation: {size: 1000}}`, docs/datasets.md)"
    ]
    assert not (tmp_cwd / "mlruns").exists()
