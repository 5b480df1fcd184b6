"""The study's question answered in sentences: for every axis, which level wins — within each level of the
axes it interacts with, where the ANOVA resolves that interaction, else averaged over them — then the
interactions and what the gradient diagnostics say about why. Every number comes with its simultaneous 95 %
interval, and the verdict is read off that interval (study.analysis.effects)."""

from __future__ import annotations

import itertools

import pandas as pd

from study.analysis.effects import (
    ALPHA,
    NEEDS_REPLICATES,
    OVERALL,
    RESOLVED,
    Metric,
)
from study.analysis.factors import factor_axes
from study.reporting.context import ReportContext
from study.reporting.html_parts import p_value
from study.store.reader import Axis

VANISHING = 0.1  # a first/last-layer gradient ratio below this: the gradient vanishes
MAX_SCOPES = 4  # scopes (combinations of the other axes) named one by one; more are counted
METRIC_WORDS = {
    "final_test_acc": "final test accuracy",
    "final_test_mae": "final test MAE",
    "final_val_acc": "final validation accuracy",
    "final_val_mae": "final validation MAE",
}


def effect_sentences(ctx: ReportContext) -> list[str]:
    """One or two sentences per axis, then the interactions and the gradient diagnostics."""
    factors = factor_axes(ctx.study.axes)
    if not factors:
        return []
    effects, metric = ctx.effects, ctx.metric
    if effects.empty:
        return []
    if (effects["verdict"] == NEEDS_REPLICATES).all():
        return [
            f"{_axes_text(factors)}: with one seed per cell no difference can be told from seed noise; "
            "run several seeds (`seeds: 3`) for an answer."
        ]
    lines = [sentence for axis in factors for sentence in _axis_sentences(axis, effects, factors, metric)]
    lines.extend(_interactions(ctx, factors))
    lines.extend(_gradient_why(ctx, factors))
    lines.append(
        f"How these are judged: difference of mean {_metric_words(metric)} with its simultaneous 95 % CI over "
        f"the {_tested(effects)} comparisons (Bonferroni; paired by seed when both sides share their seeds, else "
        "Welch); resolved = the interval excludes 0. An axis's levels are compared within each level of another "
        "only where the two-way ANOVA resolves their interaction (F test, p < 0.05), else averaged over it."
    )
    return lines


def _axis_sentences(axis: Axis, effects: pd.DataFrame, factors: list[Axis], metric: Metric) -> list[str]:
    """Where each level of one axis wins: within every combination of the other axes, then overall."""
    rows = effects[effects["axis"] == axis.short]
    if rows.empty:
        return []
    simple = rows[rows["within"] != OVERALL]
    overall = rows[rows["within"] == OVERALL]
    others = [a.short for a in factors if a is not axis]
    if len(axis.levels) == 2:
        lines = [_two_level_sentence(axis, simple, metric)] if not simple.empty else []
    else:
        lines = _multi_level_sentences(axis, simple, metric)
    if not overall.empty:
        lines.append(_overall_sentence(axis, overall, others, metric))
    return lines


def _two_level_sentence(axis: Axis, simple: pd.DataFrame, metric: Metric) -> str:
    """'activation: relu beats tanh at hidden=[100, 50] (…) but not at hidden=[40, 20] (…).'"""
    resolved = simple[simple["verdict"] == RESOLVED]
    unresolved = simple[simple["verdict"] != RESOLVED]
    winners = list(dict.fromkeys(resolved["better"]))
    if len(simple) == 1 and simple.iloc[0]["within"] == OVERALL:  # the only axis
        row = simple.iloc[0]
        if row["verdict"] == RESOLVED:
            return f"{axis.short}: {row['better']} beats {row['worse']} ({_numbers(row, metric)})."
        return f"{axis.short}: {row['better']} vs {row['worse']}: {_verdict(row)} ({_numbers(row, metric)})."
    if not winners:
        return f"{axis.short}: no level wins anywhere; {_list_scopes(unresolved, metric, with_levels=True)}."
    if len(winners) > 1:
        parts = "; ".join(
            f"{level} at {_list_scopes(resolved[resolved['better'] == level], metric)}" for level in winners
        )
        tail = f"; not resolved at {_list_scopes(unresolved, metric, with_levels=True)}" if not unresolved.empty else ""
        return f"{axis.short}: which level wins depends on the other axes: {parts}{tail}."
    winner = winners[0]
    loser = resolved.iloc[0]["worse"]
    wins = f"{axis.short}: {winner} beats {loser}"
    if unresolved.empty:
        every = "everywhere" if len(resolved) > MAX_SCOPES else f"at {_list_scopes(resolved, metric)}"
        return f"{wins} {every}."
    only = "only " if len(resolved) == 1 else ""
    not_at = _list_scopes(unresolved, metric, with_levels=True)
    return f"{wins} {only}at {_list_scopes(resolved, metric)} but not at {not_at}."


def _multi_level_sentences(axis: Axis, simple: pd.DataFrame, metric: Metric) -> list[str]:
    """Per scope: the best level, the levels it beats and those it does not."""
    lines = []
    scopes = list(dict.fromkeys(simple["within"]))
    for scope in scopes[:MAX_SCOPES]:
        rows = simple[simple["within"] == scope]
        best = _best_level(rows)
        against = rows[rows["better"] == best]
        beaten = against[against["verdict"] == RESOLVED]
        tied = against[against["verdict"] != RESOLVED]
        where = "" if scope == OVERALL else f" at {scope}"
        text = f"{axis.short}{where}: {best} is best"
        if not beaten.empty:
            text += "; it beats " + ", ".join(f"{r['worse']} ({_numbers(r, metric)})" for _, r in beaten.iterrows())
        if not tied.empty:
            text += "; not resolved against " + ", ".join(
                f"{r['worse']} ({_numbers(r, metric)}, {_verdict(r)})" for _, r in tied.iterrows()
            )
        lines.append(text + ".")
    if len(scopes) > MAX_SCOPES:
        lines.append(f"{axis.short}: {len(scopes) - MAX_SCOPES} more combinations in the effects table.")
    return lines


def _overall_sentence(axis: Axis, overall: pd.DataFrame, others: list[str], metric: Metric) -> str:
    """The average over the other axes: the best level and whether each comparison with it is resolved."""
    best = _best_level(overall)
    rows = overall[overall["better"] == best]
    where = f"{axis.short} averaged over {', '.join(others)}" if others else axis.short
    parts = ", ".join(f"{r['worse']} ({_numbers(r, metric)}, {_verdict(r)})" for _, r in rows.iterrows())
    return f"{where}: {best} ahead of {parts}."


def _verdict(row: pd.Series) -> str:
    """The verdict (read off the simultaneous interval, so it never contradicts the numbers beside it)."""
    return str(row["verdict"])


def _tested(effects: pd.DataFrame) -> int:
    return int(effects["p"].notna().sum())


def _best_level(rows: pd.DataFrame) -> str:
    """The level that is `better` in every one of its comparisons (the best mean), else the most often better."""
    levels = list(dict.fromkeys([*rows["better"], *rows["worse"]]))
    undefeated = [level for level in levels if level not in set(rows["worse"])]
    return undefeated[0] if undefeated else rows["better"].value_counts().idxmax()


def _numbers(row: pd.Series, metric: Metric) -> str:
    """'+0.0143, simultaneous 95 % CI [+0.0070, +0.0217]' (the CI left out when there is none, and said to be
    unbounded when it reaches past the largest difference the metric can show, as two seeds' often do)."""
    if pd.isna(row["ci_lo"]):
        return f"{row['diff']:+.4f}, one seed"
    span = _largest_difference(metric)
    if span is not None and (row["ci_lo"] < -span or row["ci_hi"] > span):
        seeds = int(min(row["n_better"], row["n_worse"]))
        return f"{row['diff']:+.4f}; {seeds} seeds a side do not bound it: simultaneous 95 % CI wider than ±{span:g}"
    return f"{row['diff']:+.4f}, simultaneous 95 % CI [{row['ci_lo']:+.4f}, {row['ci_hi']:+.4f}]"


def _largest_difference(metric: Metric) -> float | None:
    """How far apart two means of the metric can be: 1 for an accuracy (a fraction), None for an error."""
    return 1.0 if metric.column.endswith("_acc") else None


def _list_scopes(rows: pd.DataFrame, metric: Metric, with_levels: bool = False) -> str:
    """'hidden=[100, 50] (+0.0143, 95 % CI […])' for up to MAX_SCOPES rows, then a count."""

    def one(row: pd.Series) -> str:
        levels = f"{row['better']} − {row['worse']} " if with_levels else ""
        verdict = "" if row["verdict"] == RESOLVED else f", {_verdict(row)}"
        return f"{row['within']} ({levels}{_numbers(row, metric)}{verdict})"

    named = [one(row) for _, row in rows.head(MAX_SCOPES).iterrows()]
    if len(rows) > MAX_SCOPES:
        named.append(f"{len(rows) - MAX_SCOPES} more")
    return " and ".join(named) if len(named) <= 2 else ", ".join(named[:-1]) + " and " + named[-1]


def _interactions(ctx: ReportContext, factors: list[Axis]) -> list[str]:
    """Each two-way interaction the ANOVA resolves (p < ALPHA), or that none does."""
    if len(factors) < 2:
        return []
    table, _ = ctx.anova
    pairs = {" × ".join((a.short, b.short)) for a, b in itertools.combinations(factors, 2)}
    terms = table[table["term"].isin(pairs)]
    if terms["p"].isna().all():
        return []
    matter = terms[terms["p"] < ALPHA]
    lines = [
        f"Interaction {row.term}: {_p(row.p)}, {row.share:.1f} % of the variance — the effect of one "
        "depends on the level of the other."
        for row in matter.itertuples()
    ]
    quiet = terms[~(terms["p"] < ALPHA)]
    if not quiet.empty:
        names = ", ".join(f"{row.term} ({_p(row.p)})" for row in quiet.itertuples())
        lines.append(f"No resolved interaction: {names}.")
    return lines


def _gradient_why(ctx: ReportContext, factors: list[Axis]) -> list[str]:
    """For the axis whose levels differ most in the first/last-layer gradient ratio: the ratio per level."""
    if "grad_ratio" not in ctx.per_run or ctx.per_run["grad_ratio"].notna().sum() < 2:
        return []
    best_axis, best_spread, best_means = None, 1.0, None
    for axis in factors:
        means = ctx.per_run.groupby(axis.column)["grad_ratio"].mean().reindex(list(axis.levels)).dropna()
        if len(means) >= 2 and means.min() > 0 and means.max() / means.min() > best_spread:
            best_axis, best_spread, best_means = axis, means.max() / means.min(), means
    if best_axis is None or best_means is None or best_spread < 2:
        return [
            "Gradient diagnostics: the first layer's gradient relative to the output layer's is about the "
            "same at every level; the differences are not explained by vanishing gradients."
        ]
    per_level = ", ".join(f"{level} {value:.2g}" for level, value in best_means.items())
    low = best_means.idxmin()
    head = (
        f"Why (gradient diagnostics): the first layer's gradient relative to the output layer's differs most "
        f"by {best_axis.short} ({per_level}; {best_spread:.0f}× apart)"
    )
    if best_means.min() < VANISHING:
        return [
            f"{head}: with {low} the gradient shrinks to {best_means.min():.2g}× on its way back to the first "
            "layer — it vanishes."
        ]
    return [
        f"{head}; no level's gradient vanishes (every ratio ≥ {VANISHING:g}), so vanishing gradients do not "
        "explain the differences."
    ]


def _axes_text(factors: list[Axis]) -> str:
    return ", ".join(a.short for a in factors)


def _metric_words(metric: Metric) -> str:
    return METRIC_WORDS.get(metric.column, metric.column)


def _p(p: float) -> str:
    """'p = 0.0123', 'p < 0.0001' (not 'p = < 0.0001'), 'p = –' without one."""
    text = p_value(p)
    return f"p {text}" if text.startswith("<") else f"p = {text}"
