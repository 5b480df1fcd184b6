"""Your own `model.loss` and `train.metrics`: the task a custom loss names (model.task), the metric names each
split records, the settings refused in one line, the paths anchored at the study file, and the code's digest
in the cell's identity and the parent's code tag."""

from __future__ import annotations

import json

import pytest

from study.check.validated_study import load_study
from study.errors import ConfigError
from study.execution.code_identity import builder_refs, code_difference, code_tags, ray_runtime_env
from study.plan.grid import expand
from study.spec.builder import code_digest, code_files
from study.spec.relevance import inert_settings
from study.spec.settings import Settings
from study.spec.task import task_of, task_of_columns
from study.store.contract import Tag

STUDY = """\
study: own_loss
base:
  data: {name: mnist, train_size: 100, test_size: 50}
  model: {hidden: [8], loss: "losses.py:focal", task: classification}
  train: {iterations: 10, batch_size: 10, eval_every: 5, metrics: ["scores.py:top2"]}
grid:
  optimizer.lr: [0.1, 0.01]
"""


def own(loss: str = "losses.py:focal", task: str | None = "classification", **train) -> Settings:
    model = {"loss": loss} if task is None else {"loss": loss, "task": task}
    return Settings.model_validate({"model": model, "train": train})


@pytest.fixture
def project(tmp_path, write_study):
    (tmp_path / "losses.py").write_text("def focal(y_true, y_pred):\n    return y_pred\n", encoding="utf-8")
    (tmp_path / "scores.py").write_text("def top2(y_true, y_pred):\n    return y_pred\n", encoding="utf-8")
    return write_study(STUDY)


def test_a_custom_loss_has_the_task_it_names_and_each_metric_a_name_per_split():
    classify = task_of(own(metrics=["scores.py:top2"]))
    assert (classify.kind, classify.score, classify.loss) == ("classification", "acc", "losses.py:focal")
    assert classify.eval_metrics == ("train_acc", "test_acc", "test_loss", "train_top2", "test_top2")
    assert classify.summary_metrics[-1] == "final_test_top2"
    validated = Settings.model_validate(
        {"data": {"validation": {"size": 10}}, "train": {"metrics": ["s.py:a", "s.py:b"]}}
    )
    assert task_of(validated).own_eval_metrics == ("train_a", "train_b", "test_a", "test_b", "val_a", "val_b")
    assert task_of(validated).own_summary_metrics == ("final_test_a", "final_test_b", "final_val_a", "final_val_b")
    regress = task_of(own(task="regression"))
    assert (regress.kind, regress.score, regress.eval_metrics) == ("regression", "mae", REGRESSION_METRICS)


REGRESSION_METRICS = ("train_mae", "test_mae", "test_loss", "test_mse")


def test_the_report_finds_the_metrics_a_table_holds():
    task = task_of_columns(["final_test_acc", "final_test_loss", "final_test_top2", "final_val_top2", "gap"])
    assert task.metrics == ("top2",) and task.own_summary_metrics == ("final_test_top2",)
    assert task_of_columns(["final_test_mae", "final_test_mse", "final_test_loss"]).metrics == ()


@pytest.mark.parametrize(
    ("model", "train", "message"),
    [
        (
            {"loss": "losses.py:focal"},
            {},
            "model.task: your own model.loss 'losses.py:focal' needs model.task "
            r"\(valid: classification, regression\)",
        ),
        (
            {"loss": "mse", "task": "classification"},
            {},
            "model.task: classification contradicts model.loss mse, a regression loss",
        ),
        ({"loss": "focal"}, {}, r"'focal' is not a loss \(valid: cross_entropy, mse, mae, mape, msle, or your own"),
        ({"loss": "losses.py:focal-x", "task": "regression"}, {}, "expected 'package.module:function'"),
        ({}, {"metrics": ["s.py:loss"]}, "a metric named 'loss' would read as the task's own"),
        ({}, {"metrics": ["s.py:top2_acc"]}, "a metric named 'top2_acc' would read as the task's own"),
        ({}, {"metrics": ["s.py:top2", "t.py:top2"]}, "two metrics named 'top2'"),
        (
            {},
            {"metrics": ["s.py:top2"], "early_stopping": {"metric": "test_top2"}},
            r"'test_top2' is not recorded at eval points of this cell \(valid: train_acc, test_acc, test_loss\)",
        ),
    ],
    ids=[
        "no-task",
        "contradicting-task",
        "unknown-loss",
        "bad-reference",
        "reserved-name",
        "acc-suffix",
        "duplicate",
        "early-stopping",
    ],
)
def test_wrong_losses_and_metrics_are_refused_in_one_line(model, train, message):
    with pytest.raises(ValueError, match=message):
        Settings.model_validate({"model": model, "train": train})


def test_model_task_takes_effect_with_a_custom_loss_only():
    assert "model.task" in inert_settings(Settings.model_validate({"model": {"loss": "mae"}}))
    assert "model.task" not in inert_settings(own())


def test_paths_are_anchored_at_the_study_file_and_the_study_losses_are_left_alone(project):
    study = load_study(project)
    assert study.base.model.loss == f"{project.parent / 'losses.py'}:focal"
    assert study.base.train.metrics == [f"{project.parent / 'scores.py'}:top2"]
    assert load_study(project, ["model.loss=mse", "model.task=null"]).base.model.loss == "mse"
    with pytest.raises(ConfigError, match=r"base\.model\.loss: 'gone\.py:focal': no file "):
        load_study(project, ["model.loss=gone.py:focal"])
    with pytest.raises(ConfigError, match=r"base\.train\.metrics\[0\]: 'gone\.py:top2': no file "):
        load_study(project, ['train.metrics=["gone.py:top2"]'])


@pytest.mark.parametrize("module", ["losses.py", "scores.py"])
def test_editing_the_loss_or_a_metric_trains_new_cells(project, module):
    before = [c.config_hash for c in expand(load_study(project))]
    path = project.parent / module
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    assert not set(before) & {c.config_hash for c in expand(load_study(project))}


def test_the_parent_records_and_ray_ships_the_loss_and_metric_code(project):
    cells = expand(load_study(project))
    assert set(json.loads(code_tags(cells)[Tag.CODE_DIGEST])) == {"losses.py:focal", "scores.py:top2"}
    assert ray_runtime_env(c.settings.code_refs[0] for c in cells) == {
        "py_modules": [str(project.parent / "losses.py")]
    }


def test_a_function_of_an_installed_package_brings_no_files_into_the_cell():
    """keras.metrics:… or any installed package's function: its version is recorded on every run; walking
    its imports would read (and ship to Ray) thousands of files of site-packages."""
    assert code_files("yaml:safe_dump") == {}
    assert code_files("json:dumps") == {}
    assert code_digest("yaml:safe_dump") == code_digest("json:dumps")


def test_reproduce_and_verify_say_when_the_loss_code_changed(project):
    cells = expand(load_study(project))
    recorded = code_tags(cells)[Tag.CODE_DIGEST]
    assert code_difference(recorded, builder_refs(cells)) is None
    (project.parent / "losses.py").write_text("def focal(y_true, y_pred):\n    return -y_pred\n", encoding="utf-8")
    assert code_difference(recorded, builder_refs(cells)).startswith("model code differs: losses.py:focal (digest ")
