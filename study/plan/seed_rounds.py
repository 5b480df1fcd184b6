"""The cells an adaptive seed design (`seeds: {min, max, until: resolved}`) may train, and each round's
decision as the parent run records it (`rounds.json`). Pure: no store, no training."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from study.errors import ConfigError
from study.plan.grid import Cell, expand
from study.plan.sequential import Decision, Design
from study.spec.adaptive import AdaptiveSeeds
from study.spec.document import Study
from study.spec.strict import MAX_RUNS
from study.spec.task import task_of


@dataclass(frozen=True)
class SeedPlan:
    """Every cell a design may train (each grid point at seeds 0..max-1, in grid order) and the family of
    comparisons that decides how many of them run."""

    design: Design
    groups: list[str]
    cells: dict[tuple[str, int], Cell]
    labels: dict[str, dict[str, str]]
    metric: str

    def cell(self, group: str, seed: int) -> Cell:
        return self.cells[(group, seed)]

    def wanted(self, seeds: dict[str, int]) -> list[Cell]:
        """The cells the seed counts call for, in grid order."""
        return [self.cells[(g, s)] for g in self.groups for s in range(seeds[g])]


def seed_plan(study: Study, adaptive: AdaptiveSeeds) -> SeedPlan:
    """Expand the grid at every seed up to `max` (the same cells and hashes a fixed `seeds: max` gives);
    refuse a design past MAX_RUNS or a budget below the first round, before anything is written."""
    full = study.model_copy(update={"spec": study.spec.model_copy(update={"seeds": list(range(adaptive.max))})})
    cells = expand(full)
    groups = list(dict.fromkeys(c.group for c in cells))
    if len(groups) * adaptive.max > MAX_RUNS:
        raise ConfigError(
            f"{study.source}: seeds.max: {len(groups):,} cells × {adaptive.max} seeds = "
            f"{len(groups) * adaptive.max:,} runs at most, more than the {MAX_RUNS:,} one study may hold"
        )
    if adaptive.budget is not None and adaptive.budget < len(groups) * adaptive.min:
        raise ConfigError(
            f"{study.source}: seeds.budget: {adaptive.budget} runs cannot hold the first round "
            f"({len(groups)} cells × {adaptive.min} seeds = {len(groups) * adaptive.min} runs)"
        )
    labels = {c.group: dict(c.labels) for c in cells}
    design = Design(adaptive.min, adaptive.max, adaptive.budget)
    return SeedPlan(design, groups, {(c.group, c.seed): c for c in cells}, labels, task_of(study.base).ranking)


def values_of(plan: SeedPlan, seeds: dict[str, int], results: dict[str, dict[str, float]]) -> dict[str, np.ndarray]:
    """Each cell's ranking metric at seeds 0..n-1 (NaN where the run did not finish)."""
    out = {}
    for g in plan.groups:
        row = [results.get(plan.cell(g, s).config_hash, {}).get(plan.metric, math.nan) for s in range(seeds[g])]
        out[g] = np.asarray(row, float)
    return out


def decision_record(number: int, decision: Decision, plan: SeedPlan) -> dict:
    """One round as rounds.json holds it: the seeds, every comparison's reading, the cells given more, why."""
    return {
        "round": number,
        "runs": sum(decision.seeds.values()),
        "seeds": decision.seeds,
        "comparisons": [
            {
                "axis": a.comparison.axis,
                "first": a.comparison.first,
                "second": a.comparison.second,
                "within": a.comparison.within,
                "seeds": a.seeds,
                "n": a.n,
                "diff": _num(a.diff),
                "ci_lo": _num(a.lo),
                "ci_hi": _num(a.hi),
                "e_value": _num(a.e_value),
                "resolved_at": a.resolved_at,
                "verdict": a.verdict(final=decision.done),
            }
            for a in decision.assessments
        ],
        "added": decision.added,
        "reason": decision.reason,
        "metric": plan.metric,
        "design": {"min": plan.design.min_seeds, "max": plan.design.max_seeds, "budget": plan.design.budget},
    }


def _num(x: float) -> float | None:
    """JSON has no NaN or infinity: None."""
    return float(x) if np.isfinite(x) else None
