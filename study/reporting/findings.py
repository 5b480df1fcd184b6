"""The report's findings: the study's question answered in sentences (which level of each axis wins,
where it does not, which interactions matter, what the gradients say), then
plain-text observations read off the statistics (best and worst cell, largest gap, cells at chance
level, gradient ratios, failures and cells without a run)."""

from __future__ import annotations

import pandas as pd

from study.analysis.factors import factor_axes
from study.analysis.statistics import chance_threshold
from study.reporting.context import ReportContext
from study.reporting.effect_sentences import effect_sentences
from study.store.reader import FINISHED

MAX_NAMED = 3  # cells named one by one in a list; more are counted
SPEED_RATIO = 1.5  # levels whose mean iterations to 90 % differ by this factor or more are a finding


def findings(ctx: ReportContext) -> list[str]:
    """The answers, then observations: best and worst cell, largest gap, no learning, failures."""
    learned = ctx.summary[ctx.summary["n_seeds"] > 0]
    if learned.empty:
        return [*_failures(ctx), *_unrun(ctx)] or ["No run finished."]
    ranked = f" (ranked by {ctx.metric_words})" if ctx.selects_on_validation else ""
    lines = [*effect_sentences(ctx), f"Best cell{ranked}: {_cell_result(ctx, learned.iloc[0])}."]
    if len(learned) > 1:
        lines.append(f"Worst cell: {_cell_result(ctx, learned.iloc[-1])}.")
        widest = learned.loc[learned["gap_mean"].idxmax()] if learned["gap_mean"].notna().any() else None
        if widest is not None:
            gap, fmts = (
                ("train–test", ("{:+.3f}", "{:.3f}"))
                if ctx.task.score == "acc"
                else ("test–train", ("{:+.3g}", "{:.2g}"))
            )
            lines.append(f"Largest {gap} gap: {widest['cell']}, {mean_ci(widest, 'gap', *fmts)}.")
    if ctx.task.score == "acc":  # chance level and learning speed are classification notions
        lines.extend(_not_learned(ctx, learned))
        lines.extend(_speed_findings(ctx))
    lines.extend(_gradient_findings(learned))
    lines.extend(_failures(ctx))
    lines.extend(_unrun(ctx))
    return lines


def _unrun(ctx: ReportContext) -> list[str]:
    """One line per cell of the manifest that has no run in the store."""
    return [
        f"No run: {entry.get('name', '?')}: {entry.get('failure') or entry.get('status') or 'not found in the store'}."
        for entry in ctx.study.unrun
    ]


def _cell_result(ctx: ReportContext, row: pd.Series) -> str:
    """'<cell>, final test accuracy m ± ci (n seeds)' (regression: its error)."""
    seeds = f"{row['n_seeds']} seed{'s' if row['n_seeds'] != 1 else ''}"
    fmt = "{:.3f}" if ctx.task.score == "acc" else "{:.4g}"
    score = mean_ci(row, ctx.task.primary, fmt, fmt)
    return f"{row['cell']}, final test {ctx.task.score_name} {score} ({seeds})"


def _not_learned(ctx: ReportContext, learned: pd.DataFrame) -> list[str]:
    """One line listing the cells whose mean final test accuracy stayed at chance level."""
    stuck = stuck_cells(ctx, learned)
    if stuck.empty:
        return []
    cells = "; ".join(
        f"{row.cell} ({row.final_test_acc_mean:.3f} after {row.iterations:,.0f} iterations)"
        for row in stuck.itertuples()
    )
    chance = f"final test accuracy ≤ {chance_threshold(ctx.study.n_classes):.2f}, chance level for "
    return [f"Did not learn ({chance}{ctx.study.n_classes} classes): {cells}."]


def stuck_cells(ctx: ReportContext, learned: pd.DataFrame) -> pd.DataFrame:
    """The summary rows of the cells whose mean final test accuracy stayed at chance level (classification
    only), with the most iterations any of their finished runs trained (`iterations`)."""
    if ctx.task.score != "acc":
        return learned.iloc[0:0]
    stuck = learned[learned["final_test_acc_mean"] <= chance_threshold(ctx.study.n_classes)]
    iterations = ctx.per_run[ctx.per_run["status"] == FINISHED].groupby("cell")["iterations"].max()
    return stuck.assign(iterations=stuck["cell"].map(iterations))


def _speed_findings(ctx: ReportContext) -> list[str]:
    """Per axis whose levels learn at clearly different speeds (the slowest mean at least SPEED_RATIO× the
    fastest): the mean iterations to 90 % of the best cell's accuracy at each level, over the runs that got
    there, and how many never did."""
    finished = ctx.per_run[ctx.per_run["status"] == FINISHED]
    if "iters_to_90pct" not in finished:
        return []
    lines = []
    for axis in factor_axes(ctx.study.axes):
        by_level = finished.groupby(axis.column)["iters_to_90pct"]
        means, never = by_level.mean().reindex(list(axis.levels)), by_level.apply(lambda v: int(v.isna().sum()))
        reached = means.dropna()
        if len(reached) < 2 or reached.min() <= 0 or reached.max() / reached.min() < SPEED_RATIO:
            continue
        parts = ", ".join(f"{level} {means[level]:,.0f}{_never(never[level])}" for level in reached.sort_values().index)
        lines.append(
            f"Learning speed by {axis.short}: mean iterations to 90 % of the best cell's final test accuracy — "
            f"{parts} ({reached.max() / reached.min():.1f}× apart, averaged over the other axes)."
        )
    return lines


def _never(count: int) -> str:
    return f" ({count} run{'s' if count > 1 else ''} never)" if count else ""


def _gradient_findings(learned: pd.DataFrame) -> list[str]:
    """One line naming the cells with the smallest and largest first/last-layer gradient ratio."""
    if "grad_ratio_mean" not in learned or learned["grad_ratio_mean"].notna().sum() < 2:
        return []
    ratios = learned.set_index("cell")["grad_ratio_mean"].dropna()
    low, high = ratios.idxmin(), ratios.idxmax()
    return [
        f"Gradient reaching the first layer, relative to the output layer's, at the end: smallest in {low} "
        f"({ratios[low]:.1e}), largest in {high} ({ratios[high]:.1e})."
    ]


def _failures(ctx: ReportContext) -> list[str]:
    """One line per failed, killed, unfinished or diverged run, with the recorded reason and iteration."""
    lines = []
    for row in ctx.per_run.itertuples():
        where = f"{row.cell}, seed {row.seed}"
        if row.status != FINISHED:
            kind = {"FAILED": "Failed", "KILLED": "Killed"}.get(row.status, f"Not finished (status {row.status})")
            reason = "no reason recorded" if pd.isna(row.failure) else row.failure
            step = f" (iteration {row.failure_step:,})" if pd.notna(row.failure_step) else ""
            lines.append(f"{kind}: {where}: {reason}{step}.")
        elif pd.notna(row.diverged_step):
            lines.append(f"Diverged: {where}: the loss became NaN or infinite at iteration {int(row.diverged_step):,}.")
    return lines


def mean_ci(row: pd.Series, stat: str, mean_fmt: str, ci_fmt: str) -> str:
    """'mean ± ci' of a summary statistic; the mean alone without a CI; '–' without a value."""
    mean, ci = row[f"{stat}_mean"], row[f"{stat}_ci"]
    if pd.isna(mean):
        return "–"
    return mean_fmt.format(mean) if pd.isna(ci) else f"{mean_fmt.format(mean)} ± {ci_fmt.format(ci)}"


def named(cells: list[str]) -> str:
    """'a', 'a and b', 'a, b and c', 'a, b, c and 2 more'."""
    shown = cells[:MAX_NAMED] + ([f"{len(cells) - MAX_NAMED} more"] if len(cells) > MAX_NAMED else [])
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
