"""Early stopping on a metric the task does not record is a config error, before any engine is built.
The engine's tasks themselves are in tests/integration/engine/test_tasks.py."""

from __future__ import annotations

import pytest

from study.spec.settings import Settings


def test_early_stopping_on_an_unrecorded_metric_is_a_config_error():
    with pytest.raises(ValueError, match=r"'test_mae' is not recorded .*valid: train_acc, test_acc, test_loss"):
        Settings.model_validate({"train": {"early_stopping": {"metric": "test_mae"}}})
