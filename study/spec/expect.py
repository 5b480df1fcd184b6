"""The `expect:` document key: expected result ranges, checked after a run."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from study.spec.strict import Strict

Range = Annotated[list[float], Field(min_length=2, max_length=2)]


# The summary metrics an `expect:` entry may give a range for: classification's, then regression's.
EXPECT_METRICS = (
    "final_test_acc",
    "best_test_acc",
    "final_train_acc",
    "final_test_loss",
    "final_test_mae",
    "best_test_mae",
    "final_train_mae",
    "final_test_mse",
)


class Expectation(Strict):
    """One entry of `expect:` (study/check/expectations.py): cells selected by axis value, a range per metric."""

    cells: dict[str, Any] = {}
    """Which cells: axis (dotted or short name) -> value or label; empty: every cell."""
    final_test_acc: Range | None = None
    """[low, high] of the final test accuracy."""
    best_test_acc: Range | None = None
    """[low, high] of the best test accuracy over the run."""
    final_train_acc: Range | None = None
    """[low, high] of the final training accuracy."""
    final_test_loss: Range | None = None
    """[low, high] of the final test loss."""
    final_test_mae: Range | None = None
    """Regression: [low, high] of the final test mean absolute error (study/spec/task.py)."""
    best_test_mae: Range | None = None
    """Regression: [low, high] of the lowest test MAE over the run."""
    final_train_mae: Range | None = None
    """Regression: [low, high] of the final training MAE."""
    final_test_mse: Range | None = None
    """Regression: [low, high] of the final test mean squared error."""
    source: str = ""
    """Where the range comes from (a citation)."""

    @model_validator(mode="after")
    def _ranges(self) -> Expectation:
        ranges = {k: getattr(self, k) for k in EXPECT_METRICS}
        given = {k: v for k, v in ranges.items() if v is not None}
        if not given:
            raise ValueError(f"an expectation needs a range for at least one of {', '.join(ranges)}")
        for key, (low, high) in given.items():
            if low > high:
                raise ValueError(f"{key}: [{low:g}, {high:g}] is empty: write [low, high]")
        return self
