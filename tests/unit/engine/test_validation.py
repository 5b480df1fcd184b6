"""data.validation in the settings: the best model is chosen on validation only when every cell has
it, and early stopping may watch the validation loss only when there is one. Through the real engine:
tests/integration/engine/test_validation.py."""

from __future__ import annotations

import pytest

from study.spec.settings import Settings

TRAIN = {"iterations": 30, "batch_size": 20, "eval_every": 10, "diagnostics_every": 0}


def test_the_best_model_is_chosen_on_validation_when_every_cell_has_it():
    from study.store.models import best_run

    with_val = [
        ("a", "r1", {"final_test_acc": 0.9, "final_val_acc": 0.7}),
        ("b", "r2", {"final_test_acc": 0.8, "final_val_acc": 0.75}),
    ]
    assert best_run(with_val) == "r2"
    mixed = [with_val[0], ("c", "r3", {"final_test_acc": 0.85})]
    assert best_run(mixed) == "r1"


def test_early_stopping_may_watch_the_validation_loss_only_when_there_is_one():
    from pydantic import ValidationError

    stop = {**TRAIN, "early_stopping": {"metric": "val_loss"}}
    Settings(data={"name": "mnist", "validation": {"size": 100}}, train=stop)
    with pytest.raises(ValidationError, match="'val_loss' is not recorded at eval points"):
        Settings(data={"name": "mnist"}, train=stop)
