"""data.validation in the settings: a grid's best model is chosen on validation only when every cell has
it, and early stopping may watch the validation loss only when there is one. Through the real engine:
tests/integration/engine/test_validation.py."""

from __future__ import annotations

import pytest

from study.spec.settings import Settings

TRAIN = {"iterations": 30, "batch_size": 20, "eval_every": 10, "diagnostics_every": 0}


def test_the_best_model_is_chosen_on_validation_when_every_cell_has_it():
    from study.check.validated_study import study_from_dict
    from study.execution.parent import keep_metric

    base = {"data": {"name": "mnist", "validation": {"size": 100}}}
    doc = {"study": "v", "base": base, "grid": {"model.activation": ["relu", "tanh"]}}
    study = study_from_dict(doc, "s.yaml")
    with_val = [{"final_test_acc": 0.9, "final_val_acc": 0.7}, {"final_test_acc": 0.8, "final_val_acc": 0.75}]
    assert keep_metric(study, with_val) == "final_val_acc"
    assert keep_metric(study, [with_val[0], {"final_test_acc": 0.85}]) == "final_test_acc"
    regression = study_from_dict({**doc, "base": {**doc["base"], "model": {"loss": "mse"}}}, "s.yaml")
    assert keep_metric(regression, [{"final_test_mae": 0.3, "final_val_mae": 0.4}]) == "final_val_mae"


def test_early_stopping_may_watch_the_validation_loss_only_when_there_is_one():
    from pydantic import ValidationError

    stop = {**TRAIN, "early_stopping": {"metric": "val_loss"}}
    Settings(data={"name": "mnist", "validation": {"size": 100}}, train=stop)
    with pytest.raises(ValidationError, match="'val_loss' is not recorded at eval points"):
        Settings(data={"name": "mnist"}, train=stop)
