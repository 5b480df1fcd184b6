"""The report's comparison sections: the best cells against the next (Welch), the level effects
within and across the other axes, main effects, two-way interactions
and the ANOVA table."""

from __future__ import annotations

import itertools

import pandas as pd

from study.analysis.effects import MAX_SIMPLE_EFFECTS
from study.analysis.factors import factor_axes, interaction_table, main_effects
from study.analysis.statistics import CONFIDENCE, TOP_CELLS, compare_top
from study.reporting.context import ReportContext
from study.reporting.html_parts import esc, fmt, p_value, section, swatch, table
from study.reporting.many_cells import truncated


def replicates_section(ctx: ReportContext) -> str:
    """The best cell against the next ones: difference of means, Welch CI, verdict; or why there is none."""
    comparison = compare_top(ctx.per_run, ctx.summary, column=ctx.metric.column)
    if comparison.empty:
        return "<p>Only one cell finished: nothing to compare.</p>"
    if (comparison["verdict"] == "needs replicates").all():
        return (
            "<p>Replicates are needed: with one seed per cell a difference between cells cannot be told from "
            "seed-to-seed noise. Run every cell with several seeds (<code>seeds: 5</code> in the study file, or "
            "<code>--set seeds=5</code>) to get confidence intervals and this comparison.</p>"
        )
    headers = ["Comparison", "Seeds", "Difference of means", f"{CONFIDENCE:.0%} CI (Welch)", "dof", "Verdict"]
    rows = []
    for row in comparison.itertuples():
        ci = "–" if pd.isna(row.ci_lo) else f"[{row.ci_lo:+.4f}, {row.ci_hi:+.4f}]"
        rows.append(
            [
                f"{swatch(ctx, row.best)} − {swatch(ctx, row.other)}",
                esc(f"{row.n_best} / {row.n_other}"),
                esc(f"{row.diff:+.4f}"),
                esc(ci),
                esc(fmt(row.dof, "{:.1f}")),
                f"<strong>{esc(row.verdict)}</strong>",
            ]
        )
    note = (
        f'<p class="note">The best cell by mean final test {ctx.task.score_name} against each of the next '
        f"{TOP_CELLS - 1}. "
        "Difference of the two means with Welch's confidence interval (each cell keeps its own variance; "
        "degrees of freedom by Welch–Satterthwaite). <em>Resolved</em>: the interval excludes 0, the "
        "ranking holds beyond seed noise; <em>within noise</em>: it does not; <em>needs replicates</em>: "
        "a cell has fewer than two finished seeds.</p>"
    )
    return note + table(headers, rows, numeric=range(1, 5))


def factor_section(ctx: ReportContext) -> str:
    """Main effects, two-way interactions and the ANOVA table; nothing without an axis of two levels."""
    factors = factor_axes(ctx.study.axes)
    if not factors:
        return ""
    parts = [main_effects_table(ctx), interaction_tables(ctx, factors), anova_table(ctx)]
    return section("Factor effects", "".join(parts))


def main_effects_table(ctx: ReportContext) -> str:
    """Mean final test accuracy per level of each axis, from cell means."""
    effects = main_effects(ctx.per_run, ctx.study.axes)
    rows = [
        [
            esc(row.axis),
            esc(row.level),
            esc(fmt(row.mean, "{:.3f}")),
            esc(fmt(row.effect, "{:+.3f}")),
            esc(str(row.n_cells)),
            esc(str(row.n_runs)),
        ]
        for row in effects.itertuples()
    ]
    note = (
        f'<h3>Main effects</h3><p class="note">Mean final test {ctx.task.score_name} of the cells at each level, '
        "averaged "
        "over the levels of the other axes (each cell counts once, whatever its number of seeds); effect: "
        "the difference from the mean of all cells.</p>"
    )
    headers = ["Axis", "Level", f"Mean final test {ctx.task.score_abbrev}", "Effect", "Cells", "Runs"]
    return note + table(headers, rows, numeric=range(2, 6))


def interaction_tables(ctx: ReportContext, factors: list) -> str:
    """One table per pair of axes: mean final test accuracy per level combination and its interaction."""
    pairs = list(itertools.combinations(factors, 2))
    if not pairs:
        return ""
    html_parts = [
        f'<h3>Two-way interactions</h3><p class="note">Mean final test {ctx.task.score_name} per combination of '
        "two axes "
        "(cell means, averaged over the other axes); in parentheses the interaction: how much the "
        "combination differs from what the two main effects alone predict (mean − row mean − column mean "
        "+ table mean). Near 0: the axes act independently.</p>"
    ]
    for rows_axis, cols_axis in pairs:
        combos = interaction_table(ctx.per_run, ctx.study.axes, rows_axis, cols_axis)
        body = []
        for level in rows_axis.levels:
            cells = combos[combos[rows_axis.short] == level]
            body.append(
                [
                    esc(level),
                    *(
                        esc("–" if pd.isna(r["mean"]) else f"{r['mean']:.3f} ({r['interaction']:+.3f})")
                        for _, r in cells.iterrows()
                    ),
                ]
            )
        headers = [f"{rows_axis.short} ↓  {cols_axis.short} →", *cols_axis.levels]
        html_parts.append(table(headers, body, numeric=range(1, len(headers))))
    return "".join(html_parts)


def anova_table(ctx: ReportContext) -> str:
    """How much of the variance of the per-run final test accuracies each axis and pair explains."""
    terms, balanced = ctx.anova
    rows = [
        [
            esc(row.term),
            esc(str(row.df)),
            esc(f"{row.ss:.3g}"),
            esc(fmt(row.share, "{:.1f} %")),
            *([esc(fmt(row.f, "{:.1f}")), esc(p_value(row.p))] if " × " in row.term else ["", ""]),
        ]
        for row in terms.itertuples()
    ]
    note = (
        f'<h3>Variance explained</h3><p class="note">Analysis of variance of the final test {ctx.task.score_name} '
        "of "
        "every finished run: the total sum of squares around the overall mean, split into the part each "
        "axis explains, each pair's interaction, and the residual spread between seeds of the same cell. "
        "Share: percent of the total. F and p test each two-way interaction against the seed spread (only "
        "with several seeds per cell): where one is resolved, the Findings compare that pair's levels within "
        "each other (simple effects). Whether a level wins is judged once, in the comparisons above, not "
        "again here."
    )
    if not balanced:
        note += (
            " <strong>Approximate:</strong> the grid is unbalanced (cells excluded, failed, or with unequal "
            "seeds), so terms are fitted in the order listed (sequential sums of squares) and an earlier "
            "axis takes the variance it shares with a later one."
        )
    return note + "</p>" + table(["Term", "df", "SS", "Share of total", "F", "p"], rows, numeric=range(1, 6))


def effects_section(ctx: ReportContext) -> str:
    """The study's comparisons (study.analysis.effects.decided_effects), as the Findings state them."""
    effects = ctx.effects
    if effects.empty:
        return ""
    rows = []
    shown, cut = truncated(effects, "effects.csv", effects["verdict"] == "resolved", "resolved ones first")
    for row in shown.itertuples():
        ci = "–" if pd.isna(row.ci_lo) else f"[{row.ci_lo:+.4f}, {row.ci_hi:+.4f}]"
        rows.append(
            [
                esc(row.axis),
                esc(row.within),
                esc(f"{row.better} − {row.worse}"),
                esc(f"{row.diff:+.4f}"),
                esc(ci),
                esc(f"{row.n_better} / {row.n_worse}"),
                esc(row.method),
                esc(p_value(row.p_adj)),
                f"<strong>{esc(row.verdict)}</strong>" if row.verdict == "resolved" else esc(row.verdict),
            ]
        )
    tested = int(effects["p"].notna().sum())
    note = (
        '<p class="note">Each pair of levels of each axis: within every combination of the other axes (simple '
        "effects) for an axis whose interaction with another the ANOVA resolves, else averaged over them "
        f"(overall: each combination counts once). Difference of mean {ctx.metric_words}, better − worse, with "
        f"its simultaneous {CONFIDENCE:.0%} confidence interval over the {tested} comparisons (Bonferroni: each "
        f"at {effects.attrs['confidence']:.2%}): <em>paired</em> by seed when both sides ran the same seeds (the "
        "seed fixes initial weights and batch order, so pairing removes the noise they share), else "
        "<em>Welch</em>. p: multiplied by the number of comparisons; <em>resolved</em>: the interval excludes 0 "
        "(adjusted p &lt; 0.05); <em>needs replicates</em>: a side has a single seed.</p>"
    )
    if effects.attrs.get("averaged"):
        note += (
            f'<p class="note">{esc(", ".join(effects.attrs["averaged"]))}: compared overall although in a resolved '
            f"interaction, as within every combination of the other axes it would take more than "
            f"{MAX_SIMPLE_EFFECTS:,} comparisons.</p>"
        )
    headers = ["Axis", "Where", "Better − worse", "Difference", f"simultaneous {CONFIDENCE:.0%} CI", "Runs", "Method"]
    headers.append("p (Bonferroni)")
    return section("Which level wins, and where", note + table([*headers, "Verdict"], rows, numeric=range(3, 8)) + cut)
