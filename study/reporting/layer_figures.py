"""The report's per-layer diagnostics: gradient flow, saturated sigmoid/tanh units and dead ReLU units, one
panel per cell with a line per layer coloured by depth."""

from __future__ import annotations

import matplotlib
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from study.analysis.layer_stats import DEAD_UNITS, SATURATING, layer_activations, layer_curves
from study.reporting.context import ReportContext, ReportFigure
from study.reporting.drawing import ACC_LIMITS, facet_figure, lone_point, wrap
from study.reporting.facet_layout import facet_legend
from study.reporting.many_cells import panel_cells, selection_note

DEPTH_COLORMAP, DEPTH_COLOR_RANGE = "viridis", (0.0, 0.85)  # layer colours, first layer dark; no pale yellow


def gradient_flow(ctx: ReportContext) -> list[ReportFigure]:
    """Gradient norm of every kernel layer against iteration (log scale), one panel per cell."""
    grads = plotted_layers(ctx, "grad_norm")
    if grads.empty:
        return []
    ratios = ctx.summary.set_index("cell")["grad_ratio_mean"] if "grad_ratio_mean" in ctx.summary else pd.Series()
    fig, panels = layer_panels(ctx, grads, "gradient norm", log=True)
    for cell, ax in panels.items():
        ratio = ratios.get(cell)
        if ratio is not None and pd.notna(ratio):
            ax.set_title(f"{wrap(ctx.label(cell))}\nfirst/last {ratio:.1e}", fontsize="medium")
    caption = (
        "L2 norm of the loss gradient with respect to each layer's kernel (weights), on the training batch, "
        "against iteration; log scale, shared by all panels; mean over seeds. Colour runs with depth, from the "
        "first layer (dark, next to the input) to the output layer (light). Lines far apart mean gradients "
        "shrink on their way back to the input: a first layer orders of magnitude below the last is the "
        "vanishing gradient. Under each panel's title: the final first/last ratio (mean over seeds)."
    ) + selection_note(ctx, len(panels), grads["cell"].nunique())
    return [ReportFigure("gradient_flow", "Gradient flow by layer", caption, fig)]


def activation_saturation(ctx: ReportContext) -> list[ReportFigure]:
    """Fraction of saturated sigmoid/tanh outputs per hidden layer against iteration, one panel per cell."""
    saturated = plotted_layers(ctx, "act_saturated", SATURATING)
    if saturated.empty:
        return []
    fig, panels = layer_panels(ctx, saturated, "saturated fraction", ylim=ACC_LIMITS)
    caption = (
        "Share of a hidden layer's outputs within 0.02 of an asymptote of sigmoid (below 0.02 or above 0.98) "
        "or tanh (|y| > 0.98), on the training batch, against iteration; mean over seeds. Only layers with a "
        "bounded activation. There the derivative is below about 0.02 (sigmoid) or 0.04 (tanh): saturated "
        "units pass almost no gradient back."
    ) + selection_note(ctx, len(panels), saturated["cell"].nunique())
    return [ReportFigure("activation_saturation", "Saturated units (sigmoid, tanh)", caption, fig)]


def dead_units(ctx: ReportContext) -> list[ReportFigure]:
    """Fraction of dead ReLU units per hidden layer against iteration, one panel per cell."""
    dead = plotted_layers(ctx, "act_dead", DEAD_UNITS)
    if dead.empty:
        return []
    fig, panels = layer_panels(ctx, dead, "dead fraction", ylim=ACC_LIMITS)
    caption = (
        "Share of a ReLU layer's units that output exactly 0 for every example of the training batch (no "
        "gradient reaches their weights from that batch), against iteration; mean over seeds. Only ReLU layers."
    ) + selection_note(ctx, len(panels), dead["cell"].nunique())
    return [ReportFigure("dead_units", "Dead ReLU units", caption, fig)]


def plotted_layers(ctx: ReportContext, stat: str, functions: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per cell, layer and step, the mean over the plotted runs of one per-layer statistic; with
    `functions`, only the activation layers that use one of them."""
    rows = layer_curves(ctx.study, stat)
    rows = rows[rows["run_id"].isin(ctx.plotted)]
    if functions is not None:
        params = ctx.study.runs.set_index("run_id")
        applies = {  # one pass over the runs: a lookup per run took 5 s for 10,000
            run_id: {layer for layer, fn in layer_activations(run).items() if fn in functions}
            for run_id, run in params.loc[rows["run_id"].unique()].iterrows()
        }
        keep = [layer in applies[run_id] for run_id, layer in zip(rows["run_id"], rows["layer"])]
        rows = rows[pd.Series(keep, index=rows.index, dtype=bool)]
    return rows.groupby(["cell", "layer", "step"], observed=True)["value"].mean().reset_index()


def layer_panels(
    ctx: ReportContext, means: pd.DataFrame, ylabel: str, log: bool = False, ylim=None
) -> tuple[Figure, dict]:
    """One panel per cell (grid order) with a line per layer, coloured by depth; returns the figure and
    each cell's Axes."""
    layers = [layer for layer in means["layer"].cat.categories if layer in set(means["layer"])]
    cmap = matplotlib.colormaps[DEPTH_COLORMAP]
    low, high = DEPTH_COLOR_RANGE
    colors = {layer: cmap(low + (high - low) * i / max(1, len(layers) - 1)) for i, layer in enumerate(layers)}
    by_cell = dict(tuple(means.groupby("cell", observed=True)))
    cells = panel_cells(ctx, [cell for cell in ctx.study.cells if cell in by_cell])
    fig, axes = facet_figure(len(cells), ylabel)
    for ax, cell in zip(axes, cells):
        for layer, points in by_cell[cell].groupby("layer", observed=True):
            ax.plot(points["step"], points["value"], color=colors[layer], linewidth=1.4, marker=lone_point(points))
        ax.set_title(wrap(ctx.label(cell)), fontsize="medium")
        if log:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(*ylim)
    handles = [Line2D([], [], color=colors[layer], label=layer) for layer in layers]
    facet_legend(fig, handles, min(len(layers), 6))
    return fig, dict(zip(cells, axes))
