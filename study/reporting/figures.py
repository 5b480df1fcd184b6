"""The report's figures: learning curves, the all-cells overlay, heatmaps, the batch-norm comparison;
the per-layer diagnostics are drawn in study/reporting/layer_figures.py.

Figures use matplotlib's object-oriented API (no pyplot state, rendered by Agg) styled by seaborn (STYLE);
adding a figure means writing one function and listing it in FIGURE_BUILDERS.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Literal

import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from study.analysis.statistics import axis_pivot, chance_threshold, curve_band
from study.reporting.context import ReportContext, ReportFigure
from study.reporting.drawing import ACC_LIMITS, facet_figure, plot_band, plot_others, slug, wrap
from study.reporting.facet_layout import facet_legend
from study.reporting.layer_figures import activation_saturation, dead_units, gradient_flow
from study.reporting.many_cells import level_curves, panel_cells, selection_note, shown_cells

MAX_HEATMAPS = 3
INLINE_LEGEND_MAX = 8  # more lines than this: the legend goes outside the plot
ZOOM_FRACTION = 0.3  # the zoomed view shows this last fraction of the iterations
ZOOM_MIN_SPAN = 0.004  # its accuracy axis spans at least this much
# Titles sit at the top of their panel (axes.titley): no panel has labels above it, and matplotlib's search
# for them took a third of a panel grid's drawing time.
STYLE = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.15), "axes.titley": 1.0}

FigureBuilder = Callable[[ReportContext], list[ReportFigure]]


def score_axis(ctx: ReportContext, ax, label: str) -> None:
    """An accuracy axis spans [0, 1]; an error axis (regression) is logarithmic."""
    if ctx.task.score == "acc":
        ax.set_ylim(*ACC_LIMITS)
    else:
        ax.set_yscale("log")
    ax.set_ylabel(label)


_SPLIT_STYLES: tuple[tuple[str, Literal["--", ":", "-"]], ...] = (("train", "--"), ("val", ":"), ("test", "-"))


def learning_curves(ctx: ReportContext) -> list[ReportFigure]:
    """Train (dashed), validation (dotted, with data.validation) and test (solid) accuracy (regression: the
    error) against iteration, one panel per cell; where early stopping ended a run, a mark on its test curve."""
    drawn = _split_panels(ctx, ctx.task.score, ctx.task.score_name)
    if drawn is None:
        return []
    fig, panels, shown, handles, note = drawn
    stops = early_stops(ctx)
    for cell, ax in panels.items():
        if cell in stops.index:
            ax.plot(stops.loc[[cell], "step"], stops.loc[[cell], "value"], "v", color="0.2", markersize=6)
        if ctx.task.score == "acc":
            ax.set_ylim(*ACC_LIMITS)
        else:
            ax.set_yscale("log")
    if not stops.empty:
        handles.append(Line2D([], [], color="0.2", marker="v", linestyle="", label="early stop"))
    facet_legend(fig, handles, len(handles))
    caption = (
        f"{ctx.task.score_name[0].upper() + ctx.task.score_name[1:]} on the training data (dashed), "
        + ("the validation set (dotted) " if "val" in shown else "")
        + "and the test set (solid) against training iteration, one panel per cell. With several seeds: the "
        "mean, and its 95 % confidence band (Student t)."
        + (" ▼: where early stopping ended a run (its test score there)." if not stops.empty else "")
        + note
    )
    return [ReportFigure("learning_curves", "Learning curves", caption, fig)]


def own_metric_curves(ctx: ReportContext) -> list[ReportFigure]:
    """Each of your own train.metrics against iteration as the learning curves show the score: train
    (dashed), validation (dotted) and test (solid), one panel per cell; one figure per metric."""
    figures = []
    for name in ctx.task.metrics:
        drawn = _split_panels(ctx, name, name)
        if drawn is None:
            continue
        fig, _, shown, handles, note = drawn
        facet_legend(fig, handles, len(handles))
        caption = (
            f"Your own metric {name} (train.metrics: the mean of {name}(y_true, y_pred) over the split at each "
            "evaluation) on the training data (dashed), "
            + ("the validation set (dotted) " if "val" in shown else "")
            + "and the test set (solid) against training iteration, one panel per cell. With several seeds: the "
            "mean, and its 95 % confidence band (Student t)." + note
        )
        figures.append(ReportFigure(slug(f"own_metric_{name}"), f"Your own metric: {name}", caption, fig))
    return figures


def _split_panels(ctx: ReportContext, name: str, ylabel: str) -> tuple[Figure, dict, list[str], list, str] | None:
    """One panel per drawn cell with the metric `name` on each split it was evaluated on: the figure, each
    cell's Axes, the splits drawn, their legend handles and the caption's selection note; None without curves."""
    bands = {split: dict(tuple(curve_band(ctx.curve(f"{split}_{name}")).groupby("cell"))) for split, _ in _SPLIT_STYLES}
    candidates = [cell for cell in ctx.study.cells if cell in bands["test"] or cell in bands["train"]]
    cells = panel_cells(ctx, candidates)
    if not cells:
        return None
    fig, axes = facet_figure(len(cells), ylabel)
    for ax, cell in zip(axes, cells):
        for split, style in _SPLIT_STYLES:
            if cell in bands[split]:
                plot_band(ax, bands[split][cell], ctx.palette[cell], linestyle=style)
        ax.set_title(wrap(ctx.label(cell)), fontsize="medium")
    shown = [split for split, _ in _SPLIT_STYLES if bands[split]]
    handles = [
        Line2D([], [], color="0.3", linestyle=style, label=split) for split, style in _SPLIT_STYLES if split in shown
    ]
    return fig, dict(zip(cells, axes)), shown, handles, selection_note(ctx, len(cells), len(candidates))


def early_stops(ctx: ReportContext) -> pd.DataFrame:
    """Per cell (index): the step where early stopping ended each of its plotted runs and the test score there."""
    runs = ctx.study.runs
    if "stopped_at" not in runs or runs["stopped_at"].isna().all():
        return pd.DataFrame(columns=["step", "value"])
    stopped = runs[runs["stopped_at"].notna() & runs["run_id"].isin(ctx.plotted)]
    test = ctx.curve(f"test_{ctx.task.score}")
    points = test.merge(stopped[["run_id", "stopped_at"]], on="run_id")
    points = points[points["step"] <= points["stopped_at"]].sort_values("step").groupby("run_id").tail(1)
    return points.set_index("cell")[["step", "value"]]


def test_accuracy_overlay(ctx: ReportContext) -> list[ReportFigure]:
    """Every cell's test accuracy (regression: error) in one plot, legend ranked best first."""
    bands = dict(tuple(curve_band(ctx.curve(f"test_{ctx.task.score}")).groupby("cell")))
    every = [cell for cell in ctx.summary["cell"] if cell in bands]
    ranked = shown_cells(every, every)
    if not ranked:
        return []
    outside = len(ranked) > INLINE_LEGEND_MAX
    legend_columns = math.ceil(len(ranked) / 25)
    width = 7.5 + (2.8 * legend_columns if outside else 0)
    fig = Figure(figsize=(width, max(4.5, 0.19 * min(len(ranked), 25) + 0.6)), layout="constrained")
    ax = fig.add_subplot()
    plot_others(ax, [bands[cell] for cell in every if cell not in set(ranked)])
    for cell in ranked:
        plot_band(ax, bands[cell], ctx.palette[cell], label=wrap(ctx.label(cell)))
    ax.set(xlabel="iteration")
    score_axis(ctx, ax, f"test {ctx.task.score_name}")
    if outside:
        fig.legend(loc="outside right upper", ncols=legend_columns, fontsize="small", frameon=False)
    else:
        ax.legend(loc="lower right" if ctx.task.score == "acc" else "upper right", fontsize="small")
    name = ctx.task.score_name
    caption = f"Test {name} of every cell (mean over seeds with its 95 % band); legend ranked by final test {name}."
    if len(ranked) < len(every):
        caption += f" Grey: the mean of each of the other {len(every) - len(ranked):,} cells." + selection_note(
            ctx, len(ranked), len(every)
        )
    overlay = ReportFigure("test_accuracy_all_cells", f"Test {name}, all cells", caption, fig)
    return [overlay, *(_final_stretch(ctx, bands, ranked) if ctx.task.score == "acc" else [])]


def _final_stretch(ctx: ReportContext, bands: dict[str, pd.DataFrame], ranked: list[str]) -> list[ReportFigure]:
    """The overlay's last ZOOM_FRACTION of iterations, its accuracy axis spanning only the values the cells
    that learned reach there: the differences a study is about (0.90 vs 0.92) become visible."""
    steps = sorted({float(step) for band in bands.values() for step in band["step"]})
    last = steps[-1]
    if len(steps) < 2:
        return []
    # The window starts on an evaluation point, so every line has at least two points in it.
    start = max([step for step in steps if step <= last * (1 - ZOOM_FRACTION)] or steps[:1])
    start = min(start, steps[-2])
    stretch = {cell: bands[cell][bands[cell]["step"] >= start] for cell in ranked}
    chance = chance_threshold(ctx.study.n_classes)
    shown = [cell for cell in ranked if not stretch[cell].empty and stretch[cell]["mean"].iloc[-1] > chance]
    if not shown:
        return []
    low = min(float(stretch[c]["lo"].min()) for c in shown)
    high = max(float(stretch[c]["hi"].max()) for c in shown)
    pad = max((high - low) * 0.08, ZOOM_MIN_SPAN / 2)
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    for cell in shown:
        plot_band(ax, stretch[cell], ctx.palette[cell], label=wrap(ctx.label(cell)))
    ax.set(xlabel="iteration", ylabel="test accuracy", xlim=(start, last), ylim=(low - pad, high + pad))
    ax.legend(loc="upper left", fontsize="small", bbox_to_anchor=(1.01, 1.0), frameon=False)
    left_out = [cell for cell in ranked if cell not in shown]
    caption = (
        f"The last stretch of training (iterations {start:,.0f}–{last:,.0f}), the accuracy axis "
        f"zoomed to {low - pad:.3f}–{high + pad:.3f}, the range these cells span there (mean and 95 % band)."
        + (f" Left out, at chance level: {', '.join(left_out)}." if left_out else "")
    )
    return [ReportFigure("test_accuracy_final_stretch", "Test accuracy, final stretch (zoomed)", caption, fig)]


def final_accuracy_heatmaps(ctx: ReportContext) -> list[ReportFigure]:
    """Mean final test accuracy over pairs of axes: up to three pairs, those with most level combinations."""
    usable = [axis for axis in ctx.study.axes if len(axis.levels) >= 2]
    pairs = sorted(itertools.combinations(usable, 2), key=lambda p: -len(p[0].levels) * len(p[1].levels))
    figures = []
    for rows, cols in pairs[:MAX_HEATMAPS]:
        size = (max(4.0, 2.4 + 1.0 * len(cols.levels)), 1.5 + 0.5 * len(rows.levels))
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        name = ctx.task.score_name
        table = axis_pivot(ctx.summary, rows, cols, f"{ctx.task.primary}_mean")
        colorbar = {"label": f"final test {name}"}
        cmap = "viridis" if ctx.task.higher_is_better else "viridis_r"  # bright is better either way
        fmt = ".3f" if ctx.task.score == "acc" else ".3g"
        sns.heatmap(table, ax=ax, annot=True, fmt=fmt, cmap=cmap, linewidths=0.5, cbar_kws=colorbar)
        ax.set(xlabel=cols.short, ylabel=rows.short)
        ax.tick_params(axis="y", labelrotation=0)
        others = [axis.short for axis in ctx.study.axes if axis not in (rows, cols)]
        over = "seeds" + (f" and {', '.join(others)}" if others else "")
        caption = f"Final test {name} by {rows.short} and {cols.short}, mean over {over}; blank: no finished run."
        title = f"Final test {name}: {rows.short} × {cols.short}"
        figures.append(ReportFigure(slug(f"heatmap_{rows.short}_x_{cols.short}"), title, caption, fig))
    return figures


def batch_norm_comparison(ctx: ReportContext) -> list[ReportFigure]:
    """Test accuracy with and without batch normalisation: one panel per level of each `…batch_norm` axis."""
    bn_axes = [axis for axis in ctx.study.axes if axis.is_batch_norm and len(axis.levels) >= 2]
    bands = dict(tuple(curve_band(ctx.curve(f"test_{ctx.task.score}")).groupby("cell"))) if bn_axes else {}
    figures = []
    for axis in bn_axes:
        level_of = ctx.summary.set_index("cell")[axis.column]
        drawn = panel_cells(ctx, [c for c in ctx.study.cells if c in bands])
        groups = {lv: [c for c in drawn if level_of.get(c) == lv] for lv in axis.levels}
        tallest = max(len(cells) for cells in groups.values())
        fig = Figure(figsize=(4.6 * len(groups), 3.4 + 0.17 * tallest), layout="constrained")
        panels = fig.subplots(1, len(groups), sharex=True, sharey=True, squeeze=False)[0]
        for ax, (level, cells) in zip(panels, groups.items()):
            for cell in cells:
                plot_band(ax, bands[cell], ctx.palette[cell], label=wrap(ctx.label(cell)))
            ax.set(title=f"{axis.short} = {level}", xlabel="iteration")
            score_axis(ctx, ax, "")
            if cells:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize="x-small", frameon=False)
        panels[0].set_ylabel(f"test {ctx.task.score_name}")
        caption = (
            f"Test {ctx.task.score_name} of the cells at each level of {axis.short}, side by side; mean over seeds, "
            "95 % band."
        ) + selection_note(ctx, len(drawn), len([c for c in ctx.study.cells if c in bands]))
        figures.append(ReportFigure(slug(f"{axis.short}_comparison"), f"With and without {axis.short}", caption, fig))
    return figures


FIGURE_BUILDERS: tuple[FigureBuilder, ...] = (
    learning_curves,
    own_metric_curves,
    test_accuracy_overlay,
    level_curves,
    final_accuracy_heatmaps,
    batch_norm_comparison,
    gradient_flow,
    activation_saturation,
    dead_units,
)
