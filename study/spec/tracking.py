"""The `tracking:` document key: what a study records besides its numbers (its models, system metrics)."""

from __future__ import annotations

from typing import Literal, get_args

from study.spec.strict import PositiveFloat, Strict
from study.spec.summary_metrics import SummaryMetric

# Which cells keep their trained model in the store (study/store/models.py): every cell, the best
# cell of each `study run` (by `keep_metric`), or none.
KeepModel = Literal["all", "best", "none"]
KEEP_MODELS: tuple[str, ...] = get_args(KeepModel)


class TrackingConfig(Strict):
    """What a study records besides its numbers (never part of a cell's identity: `tracking:` is a
    document key, not a setting, so changing it changes no config hash)."""

    keep_model: KeepModel = "best"
    """Which cells keep their trained model: all, the study's best, or none (docs/store-layout.md)."""
    keep_metric: SummaryMetric | None = None
    """The summary metric that picks the best cell's model (its mean over seeds); unset: the search's metric,
    else final_val_acc (regression: final_val_mae) with data.validation, else final_test_acc (final_test_mae)."""
    system_metrics: bool = True
    """MLflow's CPU / memory / disk / network monitor on every cell run."""
    system_metrics_interval: PositiveFloat = 10.0
    """Seconds between the monitor's samples; each cell also logs one sample covering its whole run."""
