"""Anytime-valid comparisons for a study that adds seeds until its comparisons are resolved.

Looking at the data after every round and stopping once a fixed-sample t-test says "resolved" inflates
false positives. Each comparison here is judged instead by the scale-invariant normal-mixture e-process
for a Gaussian mean of unknown variance (Lai 1976; Wang & Ramdas 2025, "Anytime-valid t-tests and
confidence sequences for Gaussian means with unknown variance", Sequential Analysis 44(1), eq. (9)):
for paired per-seed differences x_1..x_n and a prior N(0, 1/c) on the standardised effect,

    M_n(μ) = sqrt(c / (n + c)) · (Σ y² / (Σ y² − (Σ y)² / (n + c)))^(n/2),   y_i = x_i − μ,

a nonnegative martingale with M_1 = 1 when the mean is μ, so by Ville's inequality P(sup_n M_n(μ) ≥ 1/a) ≤ a
over the whole infinite sequence of seeds. A comparison is resolved once M_k(0) ≥ m/α at some prefix k of
its seeds (Bonferroni over the m comparisons of the family): however the rounds decide which seeds to run,
the family-wise error stays ≤ α. Its confidence sequence {μ : M_k(μ) < m/α}, intersected over the prefixes,
is the interval reported. TensorFlow-free: pure NumPy on the per-run values.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from study.spec.adaptive import ERROR_RATE as ALPHA

PRIOR_PRECISION = 0.1
"""c of the mixture: the prior on the effect in seed standard deviations is N(0, 1/c), sd ≈ 3.2. A smaller c
resolves large effects with fewer seeds (the most a prefix of n equal differences can reach is
((n + c)/c)^((n−1)/2)) at some cost for effects near one seed sd; in simulation (docs/adaptive_seeds.md) c = 0.1
resolves an effect of 8 sd at 3.3 seeds on average and one of 2 sd with 96 % power by 10 seeds."""

RESOLVED, WITHIN_NOISE, NEEDS_REPLICATES = "resolved", "within noise", "needs replicates"  # verdicts, in every report
OVERALL = "overall"


@dataclass(frozen=True)
class Comparison:
    """Two levels of one axis: the per-seed difference is the mean over `pairs` (cell of `first`, cell of
    `second`) — all the other axes' combinations (`within` overall) or one of them."""

    axis: str
    first: str
    second: str
    within: str
    pairs: tuple[tuple[str, str], ...]

    @property
    def cells(self) -> tuple[str, ...]:
        """The cells whose seeds this comparison reads."""
        return tuple(dict.fromkeys(c for pair in self.pairs for c in pair))

    @property
    def key(self) -> str:
        """'activation: relu vs tanh (overall)': one readable name, for the record and the report."""
        return f"{self.axis}: {self.first} vs {self.second} ({self.within})"


@dataclass(frozen=True)
class Assessment:
    """One comparison after some seeds: the difference first − second, its confidence sequence (running
    intersection), the largest e-value seen, and the verdict."""

    comparison: Comparison
    seeds: int  # seeds every cell of the comparison has been given
    n: int  # seeds with a finished value in every one of its cells
    diff: float
    lo: float
    hi: float
    e_value: float
    resolved_at: int | None  # the prefix (number of seeds) at which it first resolved

    @property
    def resolved(self) -> bool:
        return self.resolved_at is not None

    def verdict(self, final: bool = True) -> str:
        """`resolved`, `needs replicates` (fewer than two seeds) or `within noise` (`open` while seeds may
        still come)."""
        if self.resolved:
            return RESOLVED
        if self.n < 2:
            return NEEDS_REPLICATES
        return WITHIN_NOISE if final else "open"


@dataclass(frozen=True)
class Design:
    """The sequential design: seeds every cell starts with and may reach, an optional cap on all runs,
    and the family-wise error rate."""

    min_seeds: int
    max_seeds: int
    budget: int | None = None
    alpha: float = ALPHA


@dataclass
class Decision:
    """One round's reading: every comparison's assessment, the seeds each cell has and gets next, and why."""

    assessments: list[Assessment]
    seeds: dict[str, int]
    next_seeds: dict[str, int]
    reason: str
    added: dict[str, int] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.next_seeds == self.seeds


def comparisons(cells: Mapping[str, Mapping[str, str]], within: bool = False) -> list[Comparison]:
    """The family: every pair of levels of every axis with two or more levels, averaged over the other axes'
    combinations (or, `within`, at each of them). `cells`: cell name -> {axis: level}, in grid order."""
    axes = axis_levels(cells)
    factors = [a for a, levels in axes.items() if len(levels) >= 2]
    out = []
    for axis in factors:
        others = [a for a in factors if a != axis]
        combos = list(dict.fromkeys(tuple(labels[o] for o in others) for labels in cells.values()))
        for first, second in itertools.combinations(axes[axis], 2):
            at = {combo: _pair(cells, axis, first, second, others, combo) for combo in combos}
            found = {combo: pair for combo, pair in at.items() if pair is not None}
            if within and others:
                for combo, pair in found.items():
                    where = ", ".join(f"{o}={v}" for o, v in zip(others, combo))
                    out.append(Comparison(axis, first, second, where, (pair,)))
            elif found:
                out.append(Comparison(axis, first, second, OVERALL, tuple(found.values())))
    return out


def axis_levels(cells: Mapping[str, Mapping[str, str]]) -> dict[str, list[str]]:
    """Each axis's levels in the order the cells first show them."""
    levels: dict[str, list[str]] = {}
    for labels in cells.values():
        for axis, level in labels.items():
            if level not in levels.setdefault(axis, []):
                levels[axis].append(level)
    return levels


def _pair(cells, axis, first, second, others, combo) -> tuple[str, str] | None:
    """The cells at `first` and `second` of `axis` at one combination of the other axes (None when either is
    missing, e.g. excluded)."""

    def find(level: str) -> str | None:
        for name, labels in cells.items():
            if labels[axis] == level and tuple(labels[o] for o in others) == combo:
                return name
        return None

    a, b = find(first), find(second)
    return (a, b) if a is not None and b is not None else None


def log_e_values(x: np.ndarray, mu: float = 0.0, c: float = PRIOR_PRECISION) -> np.ndarray:
    """log M_k(mu) for every prefix k = 1..n of the last axis of `x` (vectorised over leading axes)."""
    valid = np.ones(np.shape(x), bool)
    return _log_e(*_prefix_sums(np.asarray(x, float) - mu, valid), c)


def half_widths(x: np.ndarray, threshold: float, c: float = PRIOR_PRECISION) -> np.ndarray:
    """For every prefix k: the half-width r of the confidence sequence {mu : M_k(mu) < threshold} = mean ± r
    (inf where the prefix cannot exclude any mu)."""
    return _half_widths(*_prefix_sums(np.asarray(x, float), np.ones(np.shape(x), bool)), threshold, c)


def _prefix_sums(d: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Count, sum and sum of squares of the valid entries of every prefix (last axis)."""
    kept = np.where(valid, d, 0.0)
    return np.cumsum(valid, axis=-1).astype(float), np.cumsum(kept, axis=-1), np.cumsum(kept * kept, axis=-1)


def _log_e(k: np.ndarray, s: np.ndarray, q: np.ndarray, c: float) -> np.ndarray:
    """log M_k from the prefix sums; 0 (M = 1) for an empty prefix or all-zero values."""
    kk = np.maximum(k, 1.0)
    rest = np.maximum(q - s * s / (kk + c), np.finfo(float).tiny)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(q > 0, np.log(np.where(q > 0, q, 1.0)) - np.log(rest), 0.0)
    return np.where(k > 0, 0.5 * np.log(c / (kk + c)) + 0.5 * kk * ratio, 0.0)


def _half_widths(k: np.ndarray, s: np.ndarray, q: np.ndarray, threshold: float, c: float) -> np.ndarray:
    """Closed form of {mu : M_k(mu) < threshold}: with V the prefix's sum of squared deviations and
    R = (threshold · sqrt((k + c)/c))^(2/k), |mean − mu|² < (R − 1) V / (R k²/(k + c) − (R − 1) k)."""
    kk = np.maximum(k, 1.0)
    v = np.maximum(q - s * s / kk, 0.0)
    r = np.exp(np.minimum(2.0 / kk * (np.log(threshold) + 0.5 * np.log((kk + c) / c)), 700.0))
    a = r * kk * kk / (kk + c) - (r - 1.0) * kk
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where((a > 0) & (k > 0), np.sqrt((r - 1.0) * v / np.where(a > 0, a, 1.0)), np.inf)


@dataclass(frozen=True)
class Family:
    """The comparisons as matrices over the cells: weights (m × cells, +1/k and −1/k for the k pairs) and
    membership, so that a batch of studies is read at once (the simulation) as one study is (a run)."""

    comparisons: list[Comparison]
    cells: list[str]
    weights: np.ndarray
    members: np.ndarray

    @classmethod
    def of(cls, family: Sequence[Comparison], cells: Sequence[str]) -> Family:
        index = {cell: i for i, cell in enumerate(cells)}
        weights = np.zeros((len(family), len(cells)))
        for j, comp in enumerate(family):
            for a, b in comp.pairs:
                weights[j, index[a]] += 1 / len(comp.pairs)
                weights[j, index[b]] -= 1 / len(comp.pairs)
        members = np.zeros_like(weights, bool)
        for j, comp in enumerate(family):
            members[j, [index[c] for c in comp.cells]] = True
        return cls(list(family), list(cells), weights, members)


@dataclass(frozen=True)
class Reading:
    """Every comparison of a batch of studies (leading axes) after their seeds: arrays of shape (…, m)."""

    seeds: np.ndarray  # seeds every cell of the comparison has been given
    n: np.ndarray  # of those, seeds with a finished value in all its cells
    diff: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    e_value: np.ndarray  # the largest over the prefixes
    resolved_at: np.ndarray  # the prefix length at which it first resolved; 0 while not resolved


def read(fam: Family, values: np.ndarray, seeds: np.ndarray, threshold: float, c: float = PRIOR_PRECISION) -> Reading:
    """Read the family on `values` (…, cells, seeds; NaN where a run did not finish) at the cells' seed counts
    `seeds` (…, cells). A comparison sees the seeds all its cells have, in seed order (a prefix)."""
    given = np.where(fam.members, seeds[..., None, :], np.iinfo(np.int64).max).min(axis=-1)  # (…, m)
    missing = np.isnan(values)
    d = np.einsum("mg,...gs->...ms", fam.weights, np.where(missing, 0.0, values))
    broken = np.einsum("mg,...gs->...ms", fam.members.astype(float), missing.astype(float)) > 0
    valid = ~broken & (np.arange(values.shape[-1]) < given[..., None])
    k, s, q = _prefix_sums(d, valid)
    log_e = np.where(valid, _log_e(k, s, q, c), -np.inf)
    hit = valid & (log_e >= np.log(threshold))
    resolved_at = np.where(hit.any(-1), np.take_along_axis(k, hit.argmax(-1)[..., None], -1)[..., 0], 0)
    n = valid.sum(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = s / np.maximum(k, 1.0)
        width = _half_widths(k, s, q, threshold, c)
        lo = np.where(valid, mean - width, -np.inf).max(-1)
        hi = np.where(valid, mean + width, np.inf).min(-1)
        diff = np.where(n > 0, s[..., -1] / np.maximum(n, 1), np.nan)
    empty = lo > hi  # the intersection emptied (by chance only): the last prefix's own interval
    last = _last_width(width, valid)
    lo, hi = np.where(empty, diff - last, lo), np.where(empty, diff + last, hi)
    lo, hi = np.where(n > 0, lo, np.nan), np.where(n > 0, hi, np.nan)
    e_value = np.exp(np.where(n > 0, log_e.max(-1), 0.0))
    return Reading(given, n, diff, lo, hi, e_value, resolved_at.astype(int))


def _last_width(width: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """The half-width at each comparison's last valid prefix."""
    last = np.where(valid.any(-1), valid.shape[-1] - 1 - valid[..., ::-1].argmax(-1), 0)
    return np.take_along_axis(width, last[..., None], -1)[..., 0]


def next_seeds(fam: Family, reading: Reading, seeds: np.ndarray, design: Design) -> tuple[np.ndarray, np.ndarray]:
    """One more seed for the cells of every comparison not resolved and below max (in family order, while the
    budget allows). Returns the new seed counts (…, cells) and which open comparisons the budget held back."""
    open_ = (reading.resolved_at == 0) & (reading.seeds < design.max_seeds)
    nxt, capped = seeds.copy(), np.zeros_like(open_)
    for j in range(len(fam.comparisons)):
        trial = np.maximum(nxt, np.where(fam.members[j], reading.seeds[..., j, None] + 1, 0))
        fits = np.ones(open_.shape[:-1], bool) if design.budget is None else trial.sum(-1) <= design.budget
        nxt = np.where((open_[..., j] & fits)[..., None], trial, nxt)
        capped[..., j] = open_[..., j] & ~fits
    return nxt, capped


def family(cells: Mapping[str, Mapping[str, str]], within: bool = False) -> Family:
    """`comparisons` as a Family over the cells (cell name -> {axis: level}, grid order)."""
    return Family.of(comparisons(cells, within), list(cells))


def run_design(fam: Family, values: np.ndarray, design: Design) -> tuple[Reading, np.ndarray]:
    """The whole procedure on a batch of studies whose every seed's value is known in advance (…, cells, max):
    round after round, each study reading only the seeds it has been given. Returns the last reading and the
    seeds each cell got. The simulation's entry point, the same `read` and `next_seeds` a run uses."""
    seeds = np.full(values.shape[:-1], design.min_seeds)
    threshold = threshold_of(fam, design)
    while True:
        shown = np.where(np.arange(values.shape[-1]) < seeds[..., None], values, np.nan)
        reading = read(fam, shown, seeds, threshold)
        nxt, _ = next_seeds(fam, reading, seeds, design)
        if np.array_equal(nxt, seeds):
            return reading, seeds
        seeds = nxt


def threshold_of(fam: Family, design: Design) -> float:
    """The e-value that resolves a comparison: m / α (Bonferroni over the family)."""
    return max(len(fam.comparisons), 1) / design.alpha


def decide(fam: Family, values: Mapping[str, np.ndarray], seeds: Mapping[str, int], design: Design) -> Decision:
    """Read every comparison at the cells' current seeds and say which cells get one more seed: those of the
    comparisons not yet resolved and below `max_seeds`, within the budget (comparisons in family order).
    A pure function of the values and seed counts: a rerun replays the same decisions."""
    count = np.array([seeds[c] for c in fam.cells])
    table = np.full((len(fam.cells), max(int(count.max()), 1)), np.nan)
    for i, cell in enumerate(fam.cells):
        v = np.asarray(values[cell], float)[: count[i]]
        table[i, : len(v)] = v
    r = read(fam, table, count, threshold_of(fam, design))
    nxt, capped = next_seeds(fam, r, count, design)
    found = [
        Assessment(
            comp,
            int(r.seeds[j]),
            int(r.n[j]),
            float(r.diff[j]),
            float(r.lo[j]),
            float(r.hi[j]),
            float(r.e_value[j]),
            int(r.resolved_at[j]) or None,
        )
        for j, comp in enumerate(fam.comparisons)
    ]
    after = {cell: int(n) for cell, n in zip(fam.cells, nxt)}
    added = {cell: after[cell] - seeds[cell] for cell in fam.cells if after[cell] > seeds[cell]}
    open_ = [a for a in found if not a.resolved and a.seeds < design.max_seeds]
    return Decision(found, dict(seeds), after, _reason(found, open_, added, bool(capped.any()), design), added)


def _reason(found: list[Assessment], open_: list[Assessment], added: dict[str, int], capped: bool, d: Design) -> str:
    """Why the rounds go on or stop, in one line."""
    resolved = sum(a.resolved for a in found)
    head = f"{resolved} of {len(found)} comparisons resolved"
    if added:
        more = f"; budget of {d.budget} runs reached for the rest" if capped else ""
        return f"{head}; one more seed for the {len(added)} cells of the {len(open_)} open ones{more}"
    if not open_:
        return f"{head}; the rest reached max {d.max_seeds} seeds" if resolved < len(found) else f"{head}: done"
    return f"{head}; budget of {d.budget} runs reached"


def start_seeds(cells: Sequence[str], design: Design) -> dict[str, int]:
    """Every cell's first round: `min_seeds` seeds."""
    return {cell: design.min_seeds for cell in cells}


def fixed_design_power(effect: float, seeds: int, m: int = 1, alpha: float = ALPHA) -> float:
    """Power of the fixed-sample paired t-test at `seeds` seeds (Bonferroni over m) for a true difference of
    `effect` seed standard deviations: the noncentral t (scipy), to set the adaptive design against."""
    from scipy import stats

    df = seeds - 1
    crit = stats.t.ppf(1 - alpha / (2 * m), df)
    nc = effect * np.sqrt(seeds)
    lower = np.nan_to_num(stats.nct.cdf(-crit, df, nc))  # the wrong-sign tail: scipy gives NaN where it is ~0
    return float(stats.nct.sf(crit, df, nc) + lower)


def fixed_design_seeds(effect: float, power: float, m: int = 1, alpha: float = ALPHA, most: int = 1_000) -> int:
    """The fewest seeds a fixed design needs for `power` at `effect` (seed standard deviations)."""
    return next(n for n in range(2, most + 1) if fixed_design_power(effect, n, m, alpha) >= power)
