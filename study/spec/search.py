"""The `search:` document key: sampled trials instead of the full grid."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from study.spec.strict import RunCount, Strict
from study.spec.summary_metrics import SummaryMetric, goal

SamplerName = Literal["tpe", "random", "grid"]  # grid: every combination, exactly as a `grid:` section
PrunerName = Literal["none", "median", "successive_halving"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
PRUNERS: tuple[str, ...] = get_args(PrunerName)
DISTRIBUTION_KINDS = ("choice", "uniform", "loguniform", "int")  # `{kind: ...}` per dotted key
WHEN = "when"  # a distribution's condition: `when: {other.key: [values]}`, sampled only there


class SearchConfig(Strict):
    """`search:` -- a budget of trials sampled from distributions per dotted key, scored by one metric."""

    params: dict[str, Any]
    """The space: dotted key -> {choice: [...]} | {uniform: [lo, hi]} | {loguniform: [lo, hi]} | {int: [lo, hi]}."""
    sampler: SamplerName = "tpe"
    """How trials are drawn: random, tpe (Bayesian), or grid (every point, as a `grid:`)."""
    trials: RunCount | None = None
    """The budget of trials; required unless the sampler is grid."""
    seed: Annotated[int, Field(ge=0)] = 0
    """The sampler's seed: the same search samples the same trials."""
    metric: SummaryMetric = "best_test_acc"
    """The summary metric a trial is scored by (its mean over the trial's seeds); a val_* one needs data.validation."""
    direction: Literal["maximize", "minimize"] | None = None
    """Which way the metric is better; unset: minimize a *_loss or error (mae, mse), maximize accuracy."""
    pruner: PrunerName = "none"
    """Stop a hopeless trial at an eval point (on its first seed's curve): median, successive_halving or none."""
    startup_trials: Annotated[int, Field(ge=0)] = 5
    """Trials run to the end before the median pruner may stop one."""
    warmup_iterations: Annotated[int, Field(ge=0)] = 0
    """Iterations of a trial before it may be stopped."""
    conditional: bool = True
    """Sample a parameter only in trials where its setting takes effect (the relevance rules and `when:`)."""

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if not self.params:
            raise ValueError(
                "params: the search space is empty: give at least one, e.g. `optimizer.lr: {loguniform: [1e-4, 0.1]}`"
            )
        if self.trials is None and self.sampler != "grid":
            raise ValueError(f"trials: required with sampler {self.sampler}: how many trials to run, e.g. `trials: 30`")
        if self.direction is not None and self.direction != self.default_direction:
            raise ValueError(
                f"direction: {self.direction} {self.metric} would look for the worst trial "
                f"(valid: {self.default_direction})"
            )
        return self

    @property
    def default_direction(self) -> str:
        return goal(self.metric)

    @property
    def goal(self) -> str:
        """The direction the search optimises in: as given, else from the metric."""
        return self.direction or self.default_direction
