"""`optimizer.rule: course` refuses an optimiser the course notebook does not define. The rules checked
step by step against the notebook's loop are in tests/integration/engine/test_course_optimizers.py."""

from __future__ import annotations

import pytest

from study.spec.optimizer import OptimizerConfig


def test_course_rule_refuses_an_optimiser_the_course_does_not_define():
    with pytest.raises(ValueError, match="the course has no 'nadam'"):
        OptimizerConfig(name="nadam", rule="course")
