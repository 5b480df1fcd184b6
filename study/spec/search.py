"""The `search:` document key: sampled trials instead of the full grid."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, model_validator

from study.spec.strict import RunCount, Strict
from study.spec.summary_metrics import SUMMARY_METRIC_NAMES, SummaryMetric, goal

SamplerName = Literal["tpe", "random", "grid"]  # grid: every combination, exactly as a `grid:` section
PrunerName = Literal["none", "median", "successive_halving"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
PRUNERS: tuple[str, ...] = get_args(PrunerName)
DISTRIBUTION_KINDS = ("choice", "uniform", "loguniform", "int")  # `{kind: ...}` per dotted key
GAP = "train_test_gap"  # how much better the final training score is than the final test score: overfitting
OBJECTIVE_METRICS = (*SUMMARY_METRIC_NAMES, "wall_time_s", GAP)  # what `search.metrics` may name
DIRECTIONS = {"max": "maximize", "min": "minimize"}  # `{metric: max}` in `search.metrics`
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
    metrics: list[dict[str, str]] | None = None
    """Several objectives, e.g. `[{best_val_acc: max}, {wall_time_s: min}]`: the answer is their Pareto front."""
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
        if self.metrics is not None:
            self.check_objectives()
        elif self.direction is not None and self.direction != self.default_direction:
            raise ValueError(
                f"direction: {self.direction} {self.metric} would look for the worst trial "
                f"(valid: {self.default_direction})"
            )
        return self

    def check_objectives(self) -> None:
        """`metrics:` is a list of two or more `{metric: max|min}`, each metric once, each the right way round;
        it replaces `metric` and `direction`, and Optuna prunes single-objective searches only."""
        given = sorted({"metric", "direction"} & self.model_fields_set)
        if given:
            raise ValueError(f"metrics: replaces {' and '.join(given)}; give one or the other")
        if self.pruner != "none":
            raise ValueError(
                f"pruner: {self.pruner} cannot stop a trial of a search with several metrics (Optuna prunes "
                "single-objective searches only) (valid: none)"
            )
        entries = self.metrics or []
        if len(entries) < 2:
            raise ValueError(
                "metrics: give two or more, e.g. `[{best_val_acc: max}, {wall_time_s: min}]`; one: `metric:`"
            )
        names = []
        for entry in entries:
            if len(entry) != 1:
                raise ValueError(f"metrics: {entry!r}: each entry is one `metric: max` or `metric: min`")
            ((name, way),) = entry.items()
            if name not in OBJECTIVE_METRICS:
                raise ValueError(f"metrics: {name!r} is not a metric of a cell (valid: {', '.join(OBJECTIVE_METRICS)})")
            if way not in DIRECTIONS:
                raise ValueError(f"metrics: {name}: {way!r} is not a direction (valid: max, min)")
            if DIRECTIONS[way] != objective_goal(name):
                right = next(k for k, v in DIRECTIONS.items() if v == objective_goal(name))
                raise ValueError(f"metrics: {name}: {way} would look for the worst trials (valid: {right})")
            names.append(name)
        if len(set(names)) < len(names):
            raise ValueError(f"metrics: {', '.join(names)}: a metric is listed twice")

    @property
    def objectives(self) -> list[tuple[str, str]]:
        """(metric, maximize|minimize) of each objective: `metrics`, else the one `metric`."""
        if self.metrics is None:
            return [(self.metric, self.goal)]
        return [(name, DIRECTIONS[way]) for entry in self.metrics for name, way in entry.items()]

    @property
    def several(self) -> bool:
        """Whether the search has several objectives (a Pareto front, not one best trial)."""
        return self.metrics is not None

    @property
    def default_direction(self) -> str:
        return goal(self.metric)

    @property
    def goal(self) -> str:
        """The direction the search optimises in: as given, else from the metric."""
        return self.direction or self.default_direction


def objective_goal(metric: str) -> str:
    """Which way an objective is better: wall time and the gap down, else as the summary metric."""
    return "minimize" if metric in ("wall_time_s", GAP) else goal(metric)


def objective_value(metric: str, metrics: dict[str, float]) -> float:
    """An objective's value from a cell's summary metrics; the gap is final train minus final test accuracy
    (for an error, test minus train: positive when the net fits its training data better either way)."""
    if metric != GAP:
        return metrics[metric]
    if "final_train_acc" in metrics:
        return metrics["final_train_acc"] - metrics["final_test_acc"]
    return metrics["final_test_mae"] - metrics["final_train_mae"]
