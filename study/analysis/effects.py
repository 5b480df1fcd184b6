"""Which level of each axis wins, and where: one statistical story for the whole study.

The factorial ANOVA (study.analysis.factors) decides the two-way interactions. An axis in a resolved
interaction has its levels compared within each combination of the other axes (simple effects); every
other axis is compared averaged over them (overall: each combination counts once). These comparisons are
one family: each gets a confidence interval at the simultaneous level 1 − 0.05 / m (Bonferroni, m the
number of comparisons), and the verdict is read off that interval — `resolved` when it excludes 0 — so the
interval printed and the verdict never disagree.

The unit is the per-run value of one metric (default `final_test_acc`; any column of
`statistics.run_stats`, with `higher_is_better` saying its direction). Two cells are compared
**paired by seed** when they share every seed and have at least two (a seed fixes the initial weights
and the batch order, so the same seed in two cells shares part of its noise and pairing removes it):
scipy's `ttest_rel`; otherwise by **Welch's t** (`ttest_ind(equal_var=False)`). The overall effect of
a level pair is the mean over the other axes' combinations of the simple differences: paired, the
per-seed average difference over the combinations (`ttest_1samp`); unpaired, Welch on the runs of the
two levels pooled over the combinations. `needs replicates`: a side has fewer than two finished runs.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from study.analysis.factors import ALPHA, factor_axes, interacting_axes
from study.analysis.statistics import CONFIDENCE
from study.plan.sequential import NEEDS_REPLICATES, RESOLVED, WITHIN_NOISE
from study.store.reader import FINISHED, Axis

CORRECTION = "bonferroni"  # simultaneous intervals at 1 − ALPHA / m agree with the adjusted p exactly
OVERALL = "overall"
MAX_SIMPLE_EFFECTS = 2_000  # past this many within-combination comparisons, an axis is compared overall
COLUMNS = (
    "axis",
    "within",
    "better",
    "worse",
    "diff",
    "ci_lo",
    "ci_hi",
    "n_better",
    "n_worse",
    "method",
    "p",
    "p_adj",
    "verdict",
)


@dataclass(frozen=True)
class Metric:
    """The per-run value compared and its direction."""

    column: str = "final_test_acc"
    higher_is_better: bool = True

    def sign(self) -> float:
        """+1 when higher is better, −1 when lower is: differences are always 'better − worse' > 0."""
        return 1.0 if self.higher_is_better else -1.0


DEFAULT_METRIC = Metric()


@dataclass(frozen=True)
class _Test:
    """One comparison's raw result: difference (a − b), p, sizes and method; its interval is scipy's result's at
    the family's level, or the fixed `lo`, `hi` where there is no result (an exact difference, too few runs)."""

    diff: float
    lo: float
    hi: float
    p: float
    n_a: int
    n_b: int
    method: str
    result: Any = None

    def interval(self, confidence: float) -> tuple[float, float]:
        """The confidence interval of the difference at `confidence`."""
        if self.result is None:
            return self.lo, self.hi
        ci = self.result.confidence_interval(confidence)
        return float(ci.low), float(ci.high)


def decided_effects(per_run: pd.DataFrame, axes: Sequence[Axis], metric: Metric = DEFAULT_METRIC) -> pd.DataFrame:
    """The study's comparisons: simple effects for the axes in a resolved interaction, overall otherwise."""
    return level_effects(per_run, axes, metric, interacting_axes(per_run, axes, metric.column))


def level_effects(
    per_run: pd.DataFrame, axes: Sequence[Axis], metric: Metric = DEFAULT_METRIC, simple: frozenset[str] = frozenset()
) -> pd.DataFrame:
    """Every pair of levels of every factor axis: within each combination of the other axes for the axes
    named in `simple` (and for a study of one axis), averaged over them for the others.

    One row per comparison, oriented so that `better` is the level with the better mean by the
    metric's direction, and `diff` = better − worse in the metric's units (≥ 0 when higher is
    better, ≤ 0 when lower is). `within` is `overall` or where it was measured, e.g. `hidden=100x50`.
    The intervals are simultaneous over the rows (the level is in `attrs["confidence"]`).
    """
    averaged = too_many_simple_effects(axes, simple)
    tests = _comparisons(per_run, axes, metric, simple - averaged)
    tested = sum(1 for *_, test in tests if pd.notna(test.p))
    level = 1 - ALPHA / max(tested, 1)
    confidence = level if tested > 1 else CONFIDENCE
    rows = [_row(axis, within, a, b, test, metric, confidence) for axis, within, a, b, test in tests]
    table = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("p_adj", "verdict")])
    table = _with_verdicts(table, tested)
    table.attrs["confidence"] = level
    table.attrs["averaged"] = sorted(averaged)  # in a resolved interaction, compared overall all the same
    return table


def too_many_simple_effects(axes: Sequence[Axis], simple: frozenset[str]) -> frozenset[str]:
    """The axes of `simple` whose simple effects would number more than MAX_SIMPLE_EFFECTS (pairs of levels ×
    combinations of the other axes): they are compared overall, as a table of tens of thousands of rows,
    each at a Bonferroni level over all of them, would resolve little and say less."""
    factors = factor_axes(axes)
    count = {
        a.short: math.comb(len(a.levels), 2) * math.prod(len(o.levels) for o in factors if o is not a) for a in factors
    }
    return frozenset(short for short in simple if count.get(short, 0) > MAX_SIMPLE_EFFECTS)


def _comparisons(
    per_run: pd.DataFrame, axes: Sequence[Axis], metric: Metric, simple: frozenset[str]
) -> list[tuple[Axis, str, str, str, _Test]]:
    """The tests of `level_effects`: (axis, within, level a, level b, test)."""
    data = _finished(per_run, metric.column)
    factors = factor_axes(axes)
    tests = []
    for axis in factors:
        others = [a for a in factors if a is not axis]
        values = _level_values(data, axis, others, metric)
        combos = _combinations(data, others)
        for level_a, level_b in itertools.combinations(axis.levels, 2):
            if axis.short in simple or not others:
                for combo in combos:
                    test = _compare(values.get((*combo, level_a), EMPTY), values.get((*combo, level_b), EMPTY))
                    if test is not None:
                        tests.append((axis, scope(others, combo), level_a, level_b, test))
                continue
            test = _overall(values, combos, level_a, level_b)
            if test is not None:
                tests.append((axis, OVERALL, level_a, level_b, test))
    return tests


def _finished(per_run: pd.DataFrame, column: str) -> pd.DataFrame:
    """Finished runs with a finite value of the metric."""
    if column not in per_run:
        return per_run.iloc[0:0]
    values = pd.to_numeric(per_run[column], errors="coerce")
    return per_run[(per_run["status"] == FINISHED) & np.isfinite(values)]


def _combinations(data: pd.DataFrame, others: Sequence[Axis]) -> list[tuple[str, ...]]:
    """The combinations of the other axes' levels, in grid order (one empty one without other axes)."""
    return list(itertools.product(*(a.levels for a in others)))


@dataclass(frozen=True)
class _Seeds:
    """One side of a comparison: the metric per seed of a cell's runs (a seed's runs averaged), seeds sorted."""

    seeds: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:
        return len(self.values)

    def mean(self) -> float:
        return float(self.values.mean())

    def minus(self, other: _Seeds) -> np.ndarray:
        """self − other seed by seed (the same seeds on both sides)."""
        return self.values - other.values


EMPTY = _Seeds(np.empty(0, dtype=np.int64), np.empty(0))


def _level_values(
    data: pd.DataFrame, axis: Axis, others: Sequence[Axis], metric: Metric
) -> dict[tuple[str, ...], _Seeds]:
    """Per (combination of the other axes' levels, level of the axis): the metric per seed of its runs, from
    one grouping of the runs rather than one per cell (10,000 runs: seconds, not a minute)."""
    columns = [*(a.column for a in others), axis.column]
    narrow = data[columns].assign(seed=data["seed"].to_numpy(), value=data[metric.column].to_numpy(float))
    per_seed = narrow.groupby([*columns, "seed"], sort=False)["value"].mean()
    found: dict[tuple[str, ...], list[tuple[Any, float]]] = {}
    for (*key, seed), value in zip(per_seed.index, per_seed.to_numpy()):
        found.setdefault(tuple(key), []).append((seed, value))
    return {key: _sorted_seeds(pairs) for key, pairs in found.items()}


def _sorted_seeds(pairs: list[tuple[Any, float]]) -> _Seeds:
    """A cell's (seed, value) pairs in seed order."""
    pairs.sort(key=lambda pair: pair[0])
    return _Seeds(np.array([seed for seed, _ in pairs]), np.array([value for _, value in pairs], dtype=float))


def scope(others: Sequence[Axis], combo: tuple[str, ...]) -> str:
    """'hidden=[100, 50], lr=0.01': where a simple effect is measured."""
    return ", ".join(level_name(a, level) for a, level in zip(others, combo)) or OVERALL


def level_name(axis: Axis, level: str, sep: str = "=") -> str:
    """'hidden=100x50' (sep ' ': 'hidden 100x50'); a level whose label already names its setting
    (`dropout=0.5`) as it is."""
    return level if level.startswith(f"{axis.short}=") else f"{axis.short}{sep}{level}"


def _compare(a: _Seeds, b: _Seeds) -> _Test | None:
    """a − b: paired by seed when both have the same ≥ 2 seeds, else Welch; None when a side is empty."""
    if not len(a) or not len(b):
        return None
    diff = a.mean() - b.mean()
    if len(a) < 2 or len(b) < 2:
        return _Test(diff, np.nan, np.nan, np.nan, len(a), len(b), "–")
    if np.array_equal(a.seeds, b.seeds):
        return _one_sample(a.minus(b), len(a), len(b))
    result = stats.ttest_ind(a.values, b.values, equal_var=False)
    return _from_result(diff, result, len(a), len(b), "Welch")


def _overall(
    values: dict[tuple[str, ...], _Seeds], combos: list[tuple[str, ...]], level_a: str, level_b: str
) -> _Test | None:
    """a − b averaged over the other axes' combinations (each combination counts once)."""
    pairs = []
    for combo in combos:
        a, b = values.get((*combo, level_a), EMPTY), values.get((*combo, level_b), EMPTY)
        if len(a) and len(b):
            pairs.append((a, b))
    if not pairs:
        return None
    diff = float(np.mean([a.mean() - b.mean() for a, b in pairs]))
    n_a, n_b = sum(len(a) for a, _ in pairs), sum(len(b) for _, b in pairs)
    if any(len(a) < 2 or len(b) < 2 for a, b in pairs):  # no seed spread to judge by
        return _Test(diff, np.nan, np.nan, np.nan, n_a, n_b, "–")
    seeds = pairs[0][0].seeds
    if len(seeds) >= 2 and all(np.array_equal(a.seeds, seeds) and np.array_equal(b.seeds, seeds) for a, b in pairs):
        total = np.zeros(len(seeds))
        for a, b in pairs:  # in combination order, as the mean over them is defined
            total += a.minus(b)
        return _one_sample(total / len(pairs), n_a, n_b)
    pooled_a = np.concatenate([a.values for a, _ in pairs])
    pooled_b = np.concatenate([b.values for _, b in pairs])
    result = stats.ttest_ind(pooled_a, pooled_b, equal_var=False)
    return _from_result(diff, result, n_a, n_b, "Welch")


def _one_sample(differences: np.ndarray, n_a: int, n_b: int) -> _Test:
    """The paired test: a one-sample t on the per-seed differences (= scipy's ttest_rel)."""
    d = np.asarray(differences, dtype=float)
    diff = float(d.mean())
    if np.allclose(d, d[0], rtol=0, atol=1e-15):  # no spread: the difference is exact
        p = 1.0 if diff == 0 else 0.0
        return _Test(diff, diff, diff, p, n_a, n_b, "paired")
    result = stats.ttest_1samp(d, 0.0)
    return _from_result(diff, result, n_a, n_b, "paired")


def _from_result(diff: float, result, n_a: int, n_b: int, method: str) -> _Test:
    """A scipy t-test result as a _Test (its interval taken from the result at the family's level)."""
    return _Test(diff, np.nan, np.nan, float(result.pvalue), n_a, n_b, method, result)


def _row(axis: Axis, within: str, level_a: str, level_b: str, test: _Test, metric: Metric, confidence: float) -> dict:
    """One output row, its interval at `confidence`, oriented better − worse by the metric's direction."""
    flip = test.diff * metric.sign() < 0
    better, worse = (level_b, level_a) if flip else (level_a, level_b)
    low, high = test.interval(confidence)
    diff, lo, hi = (-test.diff, -high, -low) if flip else (test.diff, low, high)
    n_better, n_worse = (test.n_b, test.n_a) if flip else (test.n_a, test.n_b)
    return {
        "axis": axis.short,
        "within": within,
        "better": better,
        "worse": worse,
        "diff": diff,
        "ci_lo": lo,
        "ci_hi": hi,
        "n_better": n_better,
        "n_worse": n_worse,
        "method": test.method,
        "p": test.p,
    }


def _with_verdicts(table: pd.DataFrame, tested: int) -> pd.DataFrame:
    """Bonferroni-adjust the p-values over the `tested` comparisons and give each its verdict."""
    table = table.copy()
    table["p_adj"] = (table["p"] * tested).clip(upper=1.0)
    table["verdict"] = [
        NEEDS_REPLICATES if pd.isna(p) else RESOLVED if p < ALPHA else WITHIN_NOISE for p in table["p_adj"]
    ]
    return table[list(COLUMNS)]
