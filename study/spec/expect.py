"""The `expect:` document key: expected result ranges, checked after a run."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator

from study.spec.strict import Strict
from study.spec.summary_metrics import SUMMARY_METRIC_NAMES

Range = Annotated[list[float], Field(min_length=2, max_length=2)]


EXPECT_METRICS = SUMMARY_METRIC_NAMES  # the summary metrics an `expect:` entry may give a range for


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
    final_val_acc: Range | None = None
    """[low, high] of the final accuracy on the validation set (needs data.validation)."""
    final_val_loss: Range | None = None
    """[low, high] of the final validation loss (needs data.validation)."""
    best_val_acc: Range | None = None
    """[low, high] of the best validation accuracy over the run (needs data.validation)."""
    final_test_mae: Range | None = None
    """Regression: [low, high] of the final test mean absolute error (study/spec/task.py)."""
    best_test_mae: Range | None = None
    """Regression: [low, high] of the lowest test MAE over the run."""
    final_train_mae: Range | None = None
    """Regression: [low, high] of the final training MAE."""
    final_test_mse: Range | None = None
    """Regression: [low, high] of the final test mean squared error."""
    final_val_mae: Range | None = None
    """Regression: [low, high] of the final validation MAE (needs data.validation)."""
    best_val_mae: Range | None = None
    """Regression: [low, high] of the lowest validation MAE over the run (needs data.validation)."""
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
