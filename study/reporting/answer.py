"""The report's first lines: at most three sentences in plain words — which cell scores best (and which do
not learn), which learns fastest, and what the runs cost — each claim with its evidence level."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from study.analysis.effects import NEEDS_REPLICATES, OVERALL, RESOLVED, level_name, scope
from study.analysis.factors import factor_axes
from study.analysis.statistics import welch_interval
from study.reporting.context import ReportContext
from study.reporting.findings import mean_ci, named, stuck_cells
from study.reporting.rounds_section import adaptive_evidence
from study.store.reader import FINISHED, Axis

SPEED_COLUMN, SPEED_FRACTION = "iters_to_90pct", 0.9


def answer(ctx: ReportContext) -> list[str]:
    """The score sentence, then the speed sentence (classification) and the cost sentence."""
    learned = ctx.summary[ctx.summary["n_seeds"] > 0]
    if learned.empty:
        return []
    lines = [score_sentence(ctx, learned)]
    speed = speed_sentence(ctx, learned)
    if speed:
        lines.append(speed)
    lines.append(cost_sentence(ctx, learned))
    return lines


def score_sentence(ctx: ReportContext, learned: pd.DataFrame) -> str:
    """'relu · he is best: final test accuracy 0.955, ahead of relu · xavier (0.951); with 3 seeds its activation
    relu beats tanh beyond seed noise, its hidden 100x50 does not; sigmoid · gauss(0.01) does not learn …'."""
    metric, words = ctx.metric.column, ctx.metric_words
    best = learned.iloc[0]
    text = f"{best['cell']} is best: {words} {value(ctx, best, metric)}"
    if ctx.selects_on_validation:
        text += f" (selected on it; its final test {ctx.task.score_name}, {value(ctx, best, ctx.task.primary)}, "
        text += "is the unbiased estimate)"
    if len(learned) > 1:
        runner = learned.iloc[1]
        text += f", ahead of {runner['cell']} ({value(ctx, runner, metric)})"
    text += f"; {evidence_for(ctx, best)}"
    stuck = stuck_cells(ctx, learned)
    if len(stuck) == 1:
        text += f"; {stuck_text(stuck.iloc[0])}"
    elif len(stuck):
        text += f"; {named(list(stuck['cell']))} do not learn (chance level)"
    return text + "."


def evidence_for(ctx: ReportContext, best: pd.Series) -> str:
    """What the study's comparisons (the Findings' own, study.analysis.effects) say of the best cell's level
    of each axis: whether it beats the others beyond seed noise, with how many seeds."""
    adaptive = adaptive_evidence(ctx, best)
    if adaptive is not None:  # seeds added in rounds: the anytime-valid verdicts are the evidence
        return adaptive
    factors = factor_axes(ctx.study.axes)
    if int(best["n_seeds"]) < 2 or not factors:
        return seeds_text(int(best["n_seeds"]))
    effects = ctx.effects
    if effects.empty or (effects["verdict"] == NEEDS_REPLICATES).all():
        return "one seed per cell, so indicative only"
    claims = [claim for axis in factors if (claim := level_claim(effects, factors, axis, best))]
    seeds = int(ctx.summary.loc[ctx.summary["n_seeds"] > 0, "n_seeds"].min())
    return f"with {seeds} seeds, {', '.join(claims)} (simultaneous 95 % intervals, as in the Findings)"


def level_claim(effects: pd.DataFrame, factors: list[Axis], axis: Axis, best: pd.Series) -> str | None:
    """'its activation relu beats tanh beyond seed noise' or 'its hidden 100x50 is within noise of 40x20'."""
    level = str(best[axis.column])
    others = [a for a in factors if a is not axis]
    where = {OVERALL, scope(others, tuple(str(best[a.column]) for a in others))}
    rows = effects[(effects["axis"] == axis.short) & effects["within"].isin(where)]
    rows = rows[(rows["better"] == level) | (rows["worse"] == level)]
    if rows.empty:
        return None
    beaten = rows[(rows["better"] == level) & (rows["verdict"] == RESOLVED)]["worse"].tolist()
    tied = [r.worse if r.better == level else r.better for r in rows.itertuples() if r.verdict != RESOLVED]
    behind = rows[(rows["worse"] == level) & (rows["verdict"] == RESOLVED)]["better"].tolist()
    parts = []
    if beaten:
        parts.append(f"beats {named(beaten)} beyond seed noise")
    if tied:
        parts.append(f"is within noise of {named(tied)}")
    if behind:
        parts.append(f"is behind {named(behind)}")
    return f"its {level_name(axis, level, ' ')} " + " and ".join(parts)


def stuck_text(row: pd.Series) -> str:
    """'sigmoid · gauss(0.01) does not learn: 0.114 after 2,000 iterations, chance level — its first layer
    gets 0.0045× the output layer's gradient'."""
    text = f"{row['cell']} does not learn: {row['final_test_acc_mean']:.3f} after {row['iterations']:,.0f} "
    text += "iterations, chance level"
    ratio = row.get("grad_ratio_mean", math.nan)
    if pd.notna(ratio) and ratio < 1:
        text += f" — its first layer gets {ratio:.2g}× the output layer's gradient"
    return text


def speed_sentence(ctx: ReportContext, learned: pd.DataFrame) -> str | None:
    """'Learning speed: relu · he reaches 90 % of the best accuracy first, after 90 iterations; sigmoid ·
    xavier needs 1,950 and sigmoid · gauss(0.01) never does (one seed per cell: indicative only).'"""
    column = f"{SPEED_COLUMN}_mean"
    if column not in learned:
        return None
    counts, seeds = learned[f"{SPEED_COLUMN}_reached"], learned["n_seeds"]
    reached = learned[counts == seeds].sort_values(column, kind="stable")
    never, partial = list(learned.loc[counts == 0, "cell"]), list(learned.loc[(counts > 0) & (counts < seeds), "cell"])
    if reached.empty:
        return None
    first, bar = reached.iloc[0], f"{SPEED_FRACTION * 100:.0f} % of the best cell's final test accuracy"
    text = f"Learning speed: {first['cell']} reaches {bar} first, after {iterations(first)}"
    text += f" ({speed_evidence(ctx, reached)})"
    if len(reached) > 1:
        last = reached.iloc[-1]
        text += f"; the slowest, {last['cell']}, needs {iterations(last)}"
    if never:
        text += f"{' and' if len(reached) > 1 else ';'} {named(never)} never {'does' if len(never) == 1 else 'do'}"
    if partial:
        text += f"; {named(partial)} only in some seeds"
    return text + "."


def speed_evidence(ctx: ReportContext, reached: pd.DataFrame) -> str:
    """Whether the fastest cell is faster than the next beyond seed noise; with the evaluation period, which
    bounds how finely speed is told apart."""
    runs, key = ctx.study.runs, "params.train.eval_every"
    period = pd.to_numeric(runs[key], errors="coerce").max() if key in runs else math.nan
    every = f"evaluated every {period:,.0f} iterations; " if pd.notna(period) else ""
    if reached["n_seeds"].min() < 2:
        return f"{every}one seed per cell: indicative only"
    if len(reached) < 2:
        return f"{every}{int(reached.iloc[0]['n_seeds'])} seeds"
    per_run = ctx.per_run.set_index("cell")[SPEED_COLUMN]
    first, second = (per_run.loc[[cell]].dropna().tolist() for cell in reached["cell"][:2])
    _, lo, _, _ = welch_interval(second, first)
    n, other = f"{min(len(first), len(second))} seeds", reached.iloc[1]
    versus = f"{other['cell']}, {other[f'{SPEED_COLUMN}_mean']:,.0f}"
    if np.isnan(lo):
        return f"{every}{n}"
    beyond = "faster than" if lo > 0 else "within seed noise of"
    return f"{every}{beyond} {versus}, with {n}"


def cost_sentence(ctx: ReportContext, learned: pd.DataFrame) -> str:
    """'Cost: 1.5 to 2.2 s of training per run, 10.5 s for all 6 runs; the best cell 1.5 s (measured on
    this machine, one run per seed).'"""
    times = learned["wall_time_s_mean"].dropna()
    finished = ctx.per_run[ctx.per_run["status"] == FINISHED]["wall_time_s"].dropna()
    if times.empty:
        return "Cost: no wall time was recorded."
    spread = (
        f"{times.min():,.1f} s"
        if math.isclose(times.min(), times.max(), rel_tol=0.05)
        else (f"{times.min():,.1f} to {times.max():,.1f} s")
    )
    best = learned.iloc[0]
    return (
        f"Cost: {spread} of training per run, {finished.sum():,.1f} s for all {len(finished)} runs; "
        f"the best cell {best['wall_time_s_mean']:,.1f} s (wall time on this machine)."
    )


def value(ctx: ReportContext, row: pd.Series, metric: str) -> str:
    """A summary mean with its CI half-width when there is one: '0.955', '0.955 ± 0.004'."""
    fmt = "{:.3f}" if ctx.task.score == "acc" else "{:.4g}"
    return mean_ci(row, metric, fmt, fmt)


def iterations(row: pd.Series) -> str:
    return f"{row[f'{SPEED_COLUMN}_mean']:,.0f} iterations"


def seeds_text(n: int) -> str:
    return "one seed per cell, so indicative only" if n == 1 else f"{n} seeds"
