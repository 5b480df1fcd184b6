"""A step schedule's boundaries must match its values and increase. The optimisers' update rules are
checked in tests/integration/engine/test_optimizers.py."""

from __future__ import annotations

import pytest

from study.spec.optimizer import OptimizerConfig

# --- the other Keras optimisers, clipping and schedules ------------------------------------------


def test_step_schedule_needs_matching_increasing_boundaries():
    with pytest.raises(ValueError, match="2 boundaries need as many factors"):
        OptimizerConfig.model_validate({"schedule": {"name": "step", "boundaries": [2, 4], "factors": [0.1]}})
    with pytest.raises(ValueError, match="must increase"):
        OptimizerConfig.model_validate({"schedule": {"name": "step", "boundaries": [4, 2], "factors": [0.1, 0.1]}})
