"""`study report`: one study run as a self-contained HTML page, CSV tables and figure PNGs.

`write_report` reads the run with `study.store.reader`, computes its statistics with
`study.analysis.statistics`, draws every applicable figure and writes
`report.html` (figures embedded as base64 PNG, its own screen and print CSS, no external
resource), `summary.csv` (one row per cell), `runs.csv` (one row per cell × seed),
`curves.csv` (every metric point) and `figures/*.png`; it then logs the report to the parent
run under `report/`. Figures use matplotlib's object-oriented API (no pyplot state, rendered
by Agg) styled by seaborn; adding a figure means writing one function and listing it in
FIGURE_BUILDERS.
"""

from __future__ import annotations

import base64
import html
import io
import itertools
import math
import re
import textwrap
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import matplotlib
import pandas as pd
import seaborn as sns
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from study import __version__
from study.analysis.statistics import (
    CONFIDENCE,
    DEAD_UNITS,
    SATURATING,
    TOP_CELLS,
    anova,
    axis_pivot,
    chance_threshold,
    compare_top,
    curve_band,
    factor_axes,
    interaction_table,
    layer_activations,
    layer_curves,
    main_effects,
    run_stats,
    summarize,
)
from study.errors import StudyError
from study.store.connect import repoint_moved_store, resolve_tracking_uri
from study.store.reader import (
    CURVE_METRICS,
    DIAGNOSTIC_CURVES,
    FINISHED,
    StudyRuns,
    find_experiment,
    find_parent,
    load_study_runs,
    read_json_artifact,
)

DPI = 100
PANEL_SIZE = (3.4, 2.5)  # inches per learning-curve panel
MAX_FACET_COLUMNS = 5
MAX_HEATMAPS = 3
INLINE_LEGEND_MAX = 8  # more lines than this: the legend goes outside the plot
ACC_LIMITS = (-0.02, 1.02)
DEPTH_COLORMAP, DEPTH_COLOR_RANGE = "viridis", (0.0, 0.85)  # layer colours, first layer dark; no pale yellow
_STYLE = {**sns.axes_style("whitegrid"), **sns.plotting_context("paper", font_scale=1.15)}


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: file stem, heading, caption and the matplotlib Figure."""

    slug: str
    title: str
    caption: str
    figure: Figure


@dataclass
class ReportContext:
    """What figure builders and the HTML read: the study, its per-run and per-cell tables, cell colours."""

    study: StudyRuns
    per_run: pd.DataFrame
    summary: pd.DataFrame
    palette: dict[str, tuple[float, float, float]]
    plotted: frozenset[str]
    expectations: list[dict] | None = None  # the parent's expectations.json (the study's `expect:` checks)
    reproduction: dict | None = None  # the parent's reproduction.json, when it reproduces another run

    def curve(self, metric: str) -> pd.DataFrame:
        """One metric's points from the plotted runs (finished ones; all runs of a cell without any)."""
        curve = self.study.curve(metric)
        return curve[curve["run_id"].isin(self.plotted)]

    def label(self, cell: str) -> str:
        """A cell's name for figures, marked when none of its runs finished."""
        finished = self.summary.set_index("cell")["n_seeds"].get(cell, 0)
        return cell if finished else f"{cell} (failed)"


FigureBuilder = Callable[[ReportContext], list[ReportFigure]]


def write_report(
    study_name: str,
    out_dir: Path | None = None,
    parent_run_id: str | None = None,
    tracking_uri: str | None = None,
    log_to_parent: bool = True,
) -> Path:
    """Write the report of a study run (default: its latest) to out_dir and return the report.html path."""
    uri = resolve_tracking_uri(tracking_uri)
    out = Path(out_dir) if out_dir is not None else Path("reports") / study_name
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = find_experiment(client, study_name)
        parent = find_parent(client, experiment, parent_run_id)
        repoint_moved_store(uri)
        ctx = build_context(load_study_runs(client, experiment, parent, (*CURVE_METRICS, *DIAGNOSTIC_CURVES)))
        ctx.expectations = read_json_artifact(client, parent.info.run_id, "expectations.json")
        ctx.reproduction = read_json_artifact(client, parent.info.run_id, "reproduction.json")
        report = _write_files(ctx, out)
        if log_to_parent:
            _log_to_parent(client, parent.info.run_id, out)
    except MlflowException as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise StudyError(f"cannot use the MLflow store at {uri}: {first_line}") from None
    return report


def build_context(study: StudyRuns) -> ReportContext:
    """Compute the per-run and per-cell tables and the cell colours once for all figures and tables."""
    per_run = run_stats(study)
    finished_cells = set(per_run.loc[per_run["status"] == FINISHED, "cell"])
    plotted = per_run[(per_run["status"] == FINISHED) | ~per_run["cell"].isin(finished_cells)]
    return ReportContext(
        study=study,
        per_run=per_run,
        summary=summarize(per_run, study.axes),
        palette=cell_palette(study.cells),
        plotted=frozenset(plotted["run_id"]),
    )


def cell_palette(cells: list[str]) -> dict[str, tuple[float, float, float]]:
    """One fixed colour per cell, in grid order, shared by every figure and the summary table."""
    name = "tab10" if len(cells) <= 10 else "tab20" if len(cells) <= 20 else "husl"
    return dict(zip(cells, sns.color_palette(name, len(cells))))


# ---------------------------------------------------------------------------- figures


def learning_curves(ctx: ReportContext) -> list[ReportFigure]:
    """Train (dashed) and test (solid) accuracy against iteration, one panel per cell."""
    test, train = (dict(tuple(curve_band(ctx.curve(m)).groupby("cell"))) for m in ("test_acc", "train_acc"))
    cells = [cell for cell in ctx.study.cells if cell in test or cell in train]
    if not cells:
        return []
    fig, axes = _facet_figure(len(cells))
    for ax, cell in zip(axes, cells):
        for bands, style in ((train, "--"), (test, "-")):
            if cell in bands:
                _plot_band(ax, bands[cell], ctx.palette[cell], linestyle=style)
        ax.set_title(_wrap(ctx.label(cell)), fontsize="medium")
        ax.set_ylim(*ACC_LIMITS)
    handles = [Line2D([], [], color="0.3", label="test"), Line2D([], [], color="0.3", linestyle="--", label="train")]
    fig.legend(handles=handles, loc="outside upper right", ncols=2, frameon=False)
    caption = (
        "Accuracy on the training data (dashed) and on the test set (solid) against training iteration, "
        "one panel per cell. With several seeds: the mean, and its 95 % confidence band (Student t)."
    )
    return [ReportFigure("learning_curves", "Learning curves", caption, fig)]


def test_accuracy_overlay(ctx: ReportContext) -> list[ReportFigure]:
    """Every cell's test accuracy in one plot, legend ranked best first."""
    bands = dict(tuple(curve_band(ctx.curve("test_acc")).groupby("cell")))
    ranked = [cell for cell in ctx.summary["cell"] if cell in bands]
    if not ranked:
        return []
    outside = len(ranked) > INLINE_LEGEND_MAX
    legend_columns = math.ceil(len(ranked) / 25)
    width = 7.5 + (2.8 * legend_columns if outside else 0)
    fig = Figure(figsize=(width, max(4.5, 0.19 * min(len(ranked), 25) + 0.6)), layout="constrained")
    ax = fig.add_subplot()
    for cell in ranked:
        _plot_band(ax, bands[cell], ctx.palette[cell], label=_wrap(ctx.label(cell)))
    ax.set(xlabel="iteration", ylabel="test accuracy", ylim=ACC_LIMITS)
    if outside:
        fig.legend(loc="outside right upper", ncols=legend_columns, fontsize="small", frameon=False)
    else:
        ax.legend(loc="lower right", fontsize="small")
    caption = "Test accuracy of every cell (mean over seeds with its 95 % band); legend ranked by final test accuracy."
    return [ReportFigure("test_accuracy_all_cells", "Test accuracy, all cells", caption, fig)]


def final_accuracy_heatmaps(ctx: ReportContext) -> list[ReportFigure]:
    """Mean final test accuracy over pairs of axes: up to three pairs, those with most level combinations."""
    usable = [axis for axis in ctx.study.axes if len(axis.levels) >= 2]
    pairs = sorted(itertools.combinations(usable, 2), key=lambda p: -len(p[0].levels) * len(p[1].levels))
    figures = []
    for rows, cols in pairs[:MAX_HEATMAPS]:
        size = (max(4.0, 2.4 + 1.0 * len(cols.levels)), 1.5 + 0.5 * len(rows.levels))
        fig = Figure(figsize=size, layout="constrained")
        ax = fig.add_subplot()
        table = axis_pivot(ctx.summary, rows, cols)
        colorbar = {"label": "final test accuracy"}
        sns.heatmap(table, ax=ax, annot=True, fmt=".3f", cmap="viridis", linewidths=0.5, cbar_kws=colorbar)
        ax.set(xlabel=cols.short, ylabel=rows.short)
        ax.tick_params(axis="y", labelrotation=0)
        others = [axis.short for axis in ctx.study.axes if axis not in (rows, cols)]
        over = "seeds" + (f" and {', '.join(others)}" if others else "")
        caption = f"Final test accuracy by {rows.short} and {cols.short}, mean over {over}; blank: no finished run."
        title = f"Final test accuracy: {rows.short} × {cols.short}"
        figures.append(ReportFigure(_slug(f"heatmap_{rows.short}_x_{cols.short}"), title, caption, fig))
    return figures


def batch_norm_comparison(ctx: ReportContext) -> list[ReportFigure]:
    """Test accuracy with and without batch normalisation: one panel per level of each `…batch_norm` axis."""
    bn_axes = [axis for axis in ctx.study.axes if axis.is_batch_norm and len(axis.levels) >= 2]
    bands = dict(tuple(curve_band(ctx.curve("test_acc")).groupby("cell"))) if bn_axes else {}
    figures = []
    for axis in bn_axes:
        level_of = ctx.summary.set_index("cell")[axis.column]
        groups = {lv: [c for c in ctx.study.cells if c in bands and level_of.get(c) == lv] for lv in axis.levels}
        tallest = max(len(cells) for cells in groups.values())
        fig = Figure(figsize=(4.6 * len(groups), 3.4 + 0.17 * tallest), layout="constrained")
        panels = fig.subplots(1, len(groups), sharex=True, sharey=True, squeeze=False)[0]
        for ax, (level, cells) in zip(panels, groups.items()):
            for cell in cells:
                _plot_band(ax, bands[cell], ctx.palette[cell], label=_wrap(ctx.label(cell)))
            ax.set(title=f"{axis.short} = {level}", xlabel="iteration", ylim=ACC_LIMITS)
            if cells:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize="x-small", frameon=False)
        panels[0].set_ylabel("test accuracy")
        caption = f"Test accuracy of the cells at each level of {axis.short}, side by side; mean over seeds, 95 % band."
        figures.append(ReportFigure(_slug(f"{axis.short}_comparison"), f"With and without {axis.short}", caption, fig))
    return figures


def gradient_flow(ctx: ReportContext) -> list[ReportFigure]:
    """Gradient norm of every kernel layer against iteration (log scale), one panel per cell."""
    grads = _plotted_layers(ctx, "grad_norm")
    if grads.empty:
        return []
    ratios = ctx.summary.set_index("cell")["grad_ratio_mean"] if "grad_ratio_mean" in ctx.summary else pd.Series()
    fig, panels = _layer_panels(ctx, grads, "gradient norm", log=True)
    for cell, ax in panels.items():
        ratio = ratios.get(cell)
        if ratio is not None and pd.notna(ratio):
            ax.set_title(f"{_wrap(ctx.label(cell))}\nfirst/last {ratio:.1e}", fontsize="medium")
    caption = (
        "L2 norm of the loss gradient with respect to each layer's kernel (weights), on the training batch, "
        "against iteration; log scale, shared by all panels; mean over seeds. Colour runs with depth, from the "
        "first layer (dark, next to the input) to the output layer (light). Lines far apart mean gradients "
        "shrink on their way back to the input: a first layer orders of magnitude below the last is the "
        "vanishing gradient. Under each panel's title: the final first/last ratio (mean over seeds)."
    )
    return [ReportFigure("gradient_flow", "Gradient flow by layer", caption, fig)]


def activation_saturation(ctx: ReportContext) -> list[ReportFigure]:
    """Fraction of saturated sigmoid/tanh outputs per hidden layer against iteration, one panel per cell."""
    saturated = _plotted_layers(ctx, "act_saturated", SATURATING)
    if saturated.empty:
        return []
    fig, _ = _layer_panels(ctx, saturated, "saturated fraction", ylim=ACC_LIMITS)
    caption = (
        "Share of a hidden layer's outputs within 0.02 of an asymptote of sigmoid (below 0.02 or above 0.98) "
        "or tanh (|y| > 0.98), on the training batch, against iteration; mean over seeds. Only layers with a "
        "bounded activation. There the derivative is below about 0.02 (sigmoid) or 0.04 (tanh): saturated "
        "units pass almost no gradient back."
    )
    return [ReportFigure("activation_saturation", "Saturated units (sigmoid, tanh)", caption, fig)]


def dead_units(ctx: ReportContext) -> list[ReportFigure]:
    """Fraction of dead ReLU units per hidden layer against iteration, one panel per cell."""
    dead = _plotted_layers(ctx, "act_dead", DEAD_UNITS)
    if dead.empty:
        return []
    fig, _ = _layer_panels(ctx, dead, "dead fraction", ylim=ACC_LIMITS)
    caption = (
        "Share of a ReLU layer's units that output exactly 0 for every example of the training batch (no "
        "gradient reaches their weights from that batch), against iteration; mean over seeds. Only ReLU layers."
    )
    return [ReportFigure("dead_units", "Dead ReLU units", caption, fig)]


FIGURE_BUILDERS: tuple[FigureBuilder, ...] = (
    learning_curves,
    test_accuracy_overlay,
    final_accuracy_heatmaps,
    batch_norm_comparison,
    gradient_flow,
    activation_saturation,
    dead_units,
)


def render_figures(ctx: ReportContext) -> list[tuple[ReportFigure, bytes]]:
    """Run every figure builder under the report style and render its figures to PNG bytes."""
    with matplotlib.rc_context(_STYLE):
        return [(figure, _png(figure.figure)) for builder in FIGURE_BUILDERS for figure in builder(ctx)]


def _plotted_layers(ctx: ReportContext, stat: str, functions: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Per cell, layer and step, the mean over the plotted runs of one per-layer statistic; with
    `functions`, only the activation layers that use one of them."""
    rows = layer_curves(ctx.study, stat)
    rows = rows[rows["run_id"].isin(ctx.plotted)]
    if functions is not None:
        params = ctx.study.runs.set_index("run_id")
        applies = {run_id: {layer for layer, fn in layer_activations(params.loc[run_id]).items() if fn in functions}
                   for run_id in rows["run_id"].unique()}
        keep = [layer in applies[run_id] for run_id, layer in zip(rows["run_id"], rows["layer"])]
        rows = rows[pd.Series(keep, index=rows.index, dtype=bool)]
    return rows.groupby(["cell", "layer", "step"], observed=True)["value"].mean().reset_index()


def _layer_panels(
    ctx: ReportContext, means: pd.DataFrame, ylabel: str, log: bool = False, ylim=None
) -> tuple[Figure, dict]:
    """One panel per cell (grid order) with a line per layer, coloured by depth; returns the figure and
    each cell's Axes."""
    layers = [layer for layer in means["layer"].cat.categories if layer in set(means["layer"])]
    cmap = matplotlib.colormaps[DEPTH_COLORMAP]
    low, high = DEPTH_COLOR_RANGE
    colors = {layer: cmap(low + (high - low) * i / max(1, len(layers) - 1)) for i, layer in enumerate(layers)}
    by_cell = dict(tuple(means.groupby("cell", observed=True)))
    cells = [cell for cell in ctx.study.cells if cell in by_cell]
    fig, axes = _facet_figure(len(cells), ylabel)
    for ax, cell in zip(axes, cells):
        for layer, points in by_cell[cell].groupby("layer", observed=True):
            ax.plot(points["step"], points["value"], color=colors[layer], linewidth=1.4)
        ax.set_title(_wrap(ctx.label(cell)), fontsize="medium")
        if log:
            ax.set_yscale("log")
        if ylim is not None:
            ax.set_ylim(*ylim)
    handles = [Line2D([], [], color=colors[layer], label=layer) for layer in layers]
    fig.legend(handles=handles, loc="outside upper right", ncols=min(len(layers), 6), frameon=False)
    return fig, dict(zip(cells, axes))


def _facet_figure(n: int, ylabel: str = "accuracy") -> tuple[Figure, list]:
    """A figure of n panels with shared axes, wrapped into rows, sized so each panel stays legible."""
    ncols = min(n, MAX_FACET_COLUMNS, max(2, math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncols)
    fig = Figure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.4), layout="constrained")
    grid = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in grid[n:]:
        fig.delaxes(ax)
    for ax in grid[max(0, n - ncols) : n]:  # the lowest panel of each column
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("iteration")
    for ax in grid[:n:ncols]:
        ax.set_ylabel(ylabel)
    return fig, list(grid[:n])


def _plot_band(ax, band: pd.DataFrame, color, linestyle: str = "-", label: str | None = None) -> None:
    """Draw a mean line and, where it has width, its confidence band."""
    ax.plot(band["step"], band["mean"], color=color, linestyle=linestyle, linewidth=1.4, label=label)
    if (band["hi"] > band["lo"]).any():
        ax.fill_between(band["step"], band["lo"], band["hi"], color=color, alpha=0.2, linewidth=0)


def _png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def _wrap(text: str, width: int = 34) -> str:
    """Break a long label onto several lines."""
    return "\n".join(textwrap.wrap(text, width)) or text


def _slug(text: str) -> str:
    """A file-name-safe version of a figure name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)


# ---------------------------------------------------------------------------- findings


def findings(ctx: ReportContext) -> list[str]:
    """Plain-text observations from the data: best and worst cell, largest gap, no learning, failures."""
    learned = ctx.summary[ctx.summary["n_seeds"] > 0]
    lines = [f"Best cell: {_cell_result(learned.iloc[0])}."]
    if len(learned) > 1:
        lines.append(f"Worst cell: {_cell_result(learned.iloc[-1])}.")
        widest = learned.loc[learned["gap_mean"].idxmax()] if learned["gap_mean"].notna().any() else None
        if widest is not None:
            lines.append(f"Largest train–test gap: {widest['cell']}, {_mean_ci(widest, 'gap', '{:+.3f}', '{:.3f}')}.")
    lines.extend(_not_learned(ctx, learned))
    lines.extend(_gradient_findings(learned))
    lines.extend(_failures(ctx))
    for entry in ctx.study.unrun:
        reason = entry.get("failure") or entry.get("status") or "not found in the store"
        lines.append(f"No run: {entry.get('name', '?')}: {reason}.")
    return lines


def _cell_result(row: pd.Series) -> str:
    """'<cell>, final test accuracy m ± ci (n seeds)'."""
    seeds = f"{row['n_seeds']} seed{'s' if row['n_seeds'] != 1 else ''}"
    return f"{row['cell']}, final test accuracy {_mean_ci(row, 'final_test_acc', '{:.3f}', '{:.3f}')} ({seeds})"


def _not_learned(ctx: ReportContext, learned: pd.DataFrame) -> list[str]:
    """One line listing the cells whose mean final test accuracy stayed at chance level."""
    threshold = chance_threshold(ctx.study.n_classes)
    stuck = learned[learned["final_test_acc_mean"] <= threshold]
    if stuck.empty:
        return []
    iterations = ctx.per_run[ctx.per_run["status"] == FINISHED].groupby("cell")["iterations"].max()
    cells = "; ".join(
        f"{row.cell} ({row.final_test_acc_mean:.3f} after {iterations[row.cell]:,.0f} iterations)"
        for row in stuck.itertuples()
    )
    chance = f"final test accuracy ≤ {threshold:.2f}, chance level for {ctx.study.n_classes} classes"
    return [f"Did not learn ({chance}): {cells}."]


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


# ---------------------------------------------------------------------------- HTML

_SUMMARY_COLUMNS = (  # header, statistic, format of the mean, format of the CI half-width
    ("Final test acc", "final_test_acc", "{:.3f}", "{:.3f}"),
    ("Best test acc", "best_test_acc", "{:.3f}", "{:.3f}"),
    ("Final train acc", "final_train_acc", "{:.3f}", "{:.3f}"),
    ("Train − test gap", "gap", "{:+.3f}", "{:.3f}"),
    ("Iterations to 50 %", "iters_to_50pct", "{:,.0f}", "{:,.0f}"),
    ("Iterations to 90 %", "iters_to_90pct", "{:,.0f}", "{:,.0f}"),
    ("Wall time (s)", "wall_time_s", "{:,.1f}", "{:,.1f}"),
)
_GRAD_RATIO_COLUMN = ("Grad ratio first/last", "grad_ratio", "{:.2e}", "{:.1e}")  # only with diagnostics

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
 line-height:1.45;max-width:78rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
h3{margin:1.4rem 0 .4rem}.meta,figcaption,.note{color:#555;font-size:.9rem}.description{white-space:pre-line}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1.2rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
thead th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.num{white-space:normal}
tr.failed td{color:#a02c2c}code{font-size:.85em}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.45em}
figure{margin:1.2rem 0}figure img{max-width:100%;height:auto}
@page{margin:14mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:9.5pt}h2,h3{break-after:avoid}
 figure,tr{break-inside:avoid}.swatch{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""


def render_html(ctx: ReportContext, figures: list[tuple[ReportFigure, bytes]]) -> str:
    """The whole report as one HTML document with its figures embedded."""
    title = f"Study report: {ctx.study.study}"
    body = "\n".join(
        [
            _header(ctx),
            _expectations(ctx),
            _reproduction(ctx),
            _section("What was run", _what_was_run(ctx)),
            _section("Findings", _list(findings(ctx))),
            _section("Summary per cell", _summary_table(ctx)),
            _section("Is the ranking resolved?", _replicates(ctx)),
            _factor_section(ctx),
            _section("Figures", "\n".join(_figure(figure, png) for figure, png in figures)),
            _section("All runs", _runs_table(ctx)),
        ]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _header(ctx: ReportContext) -> str:
    """Title and which run the report is about."""
    parent = ctx.study.parent.info
    meta = (
        f"Study run {_e(parent.run_name)} (MLflow run <code>{_e(parent.run_id)}</code>), "
        f"started {_timestamp(parent.start_time)}. "
        f"Report generated {datetime.now():%Y-%m-%d %H:%M} by study {__version__}."
    )
    return f"<header><h1>Study: {_e(ctx.study.study)}</h1><p class=\"meta\">{meta}</p></header>"


def _expectations(ctx: ReportContext) -> str:
    """The study's `expect:` ranges and whether each cell met them (nothing when the study has none)."""
    if not ctx.expectations:
        return ""
    met = sum(o["met"] for o in ctx.expectations)
    rows = [[_e(f"expect[{o['expectation']}]"), _e(o["cell"]), _e(o["metric"]),
             _e("—" if o["value"] is None else f"{o['value']:.4f}"), _e(f"[{o['low']:g}, {o['high']:g}]"),
             "met" if o["met"] else "<strong>NOT MET</strong>", _e(o.get("source", ""))] for o in ctx.expectations]
    table = _table(["expectation", "cell", "metric", "value", "range", "", "source"], rows, numeric=range(3, 5))
    return _section(f"Expected results: {met} of {len(ctx.expectations)} met", table)


def _reproduction(ctx: ReportContext) -> str:
    """When this run reproduces another: each cell's verdict and what differs in the environment."""
    rep = ctx.reproduction
    if not rep:
        return ""
    rows, env = [], {}
    for c in rep["cells"]:
        moved = ", ".join(f"{k} {v:.3g}" for k, v in c["max_abs_diff"].items() if v) or "—"
        acc = "—" if c["final_test_acc_diff"] is None else f"{c['final_test_acc_diff']:+.4f}"
        verdict = "identical" if c["identical"] else f"<strong>differs</strong>{': ' + _e(c['problem']) if c['problem'] else ''}"
        rows.append([_e(c["name"]), verdict, _e(moved), _e(acc)])
        env.update(c["environment"])
    same = sum(c["identical"] for c in rep["cells"])
    intro = (f"<p>This run reproduces run <code>{_e(rep['original_parent'])}</code>: {same} of {len(rep['cells'])} "
             "cells came back bit-identical.</p>")
    table = _table(["cell", "verdict", "largest |difference| per metric", "final test acc Δ"], rows)
    envs = _list([f"{k}: {was} → {now}" for k, (was, now) in sorted(env.items())]) if env else \
        "<p>The environments recorded (versions, numerics, CPU, data) are the same.</p>"
    return _section("Reproduction", intro + table + envs)


def _what_was_run(ctx: ReportContext) -> str:
    """Description, axes, runs, dataset, wall time, versions and the fixed settings."""
    study, runs = ctx.study, ctx.study.runs
    tags = study.parent.data.tags
    statuses = ", ".join(f"{n} {status.lower()}" for status, n in runs["status"].value_counts().items())
    seeds = ", ".join(str(s) for s in sorted(runs["seed"].dropna().unique()))
    axes = "<br>".join(
        f"<strong>{_e(a.short)}</strong>{f' (<code>{_e(a.key)}</code>)' if a.key != a.short else ''}: "
        f"{_e(', '.join(a.levels))}"
        for a in study.axes
    )
    datasets = "; ".join(f"{name} (digest {digest})" if digest else name for name, digest in study.datasets if name)
    items = [
        ("Axes", axes or "none: a single cell"),
        ("Runs", _e(f"{len(study.cells)} cells, {len(runs)} runs (seeds {seeds or '–'}): {statuses}")),
        ("Dataset", _e(datasets or "–")),
        ("Wall time", _e(f"{_duration(study.wall_time_s)} (sum over runs: {_duration(runs['wall_time_s'].sum())})")),
        ("Study file", _e(tags.get("study.config_file", "–"))),
        ("Git commit", f"<code>{_e(tags['git.commit'])}</code>" if "git.commit" in tags else "–"),
        ("Versions", _e(", ".join(f"{pkg} {version}" for pkg, version in study.versions.items()) or "–")),
    ]
    description = f'<p class="description">{_e(study.description)}</p>' if study.description else ""
    definitions = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in items)
    fixed = _table(["Setting", "Value"], [[f"<code>{_e(k)}</code>", _e(v)] for k, v in study.fixed.items()])
    heading = "<h3>Fixed settings</h3><p class=\"note\">Equal in every run; unset options left out.</p>"
    return f"{description}<dl>{definitions}</dl>{heading}{fixed if study.fixed else '<p>none</p>'}"


def _summary_table(ctx: ReportContext) -> str:
    """One row per cell, best first: mean ± 95 % CI over seeds of each statistic."""
    columns = _summary_columns(ctx)
    headers = ["#", "Cell", "Seeds", *(header for header, *_ in columns)]
    rows, classes = [], []
    for _, row in ctx.summary.iterrows():
        seeds = str(row["n_seeds"]) if row["n_seeds"] == row["n_runs"] else f"{row['n_seeds']} of {row['n_runs']}"
        stats = [_mean_ci(row, stat, mean_fmt, ci_fmt) for _, stat, mean_fmt, ci_fmt in columns]
        rows.append([str(row["rank"]), _swatch(ctx, row["cell"]), seeds, *map(_e, stats)])
        classes.append("" if row["n_seeds"] else "failed")
    note = (
        '<p class="note">Mean ± half-width of the 95 % confidence interval over the finished seeds (Student t, '
        "n − 1 degrees of freedom; one seed: the value alone). Iterations to 50 % / 90 %: first evaluation "
        "where the test accuracy reaches that fraction of the run's final test accuracy. Sorted by mean final "
        "test accuracy."
        + (
            " Grad ratio first/last: the gradient norm of the first layer divided by that of the output layer, "
            "at the last iteration (see the gradient-flow figure); far below 1 means the gradient vanishes."
            if len(columns) > len(_SUMMARY_COLUMNS) else ""
        )
        + "</p>"
    )
    return note + _table(headers, rows, numeric=range(2, len(headers)), row_classes=classes)


def _summary_columns(ctx: ReportContext) -> tuple:
    """The summary table's statistics: the gradient ratio only when some run logged diagnostics."""
    has_ratio = "grad_ratio_mean" in ctx.summary and ctx.summary["grad_ratio_mean"].notna().any()
    return (*_SUMMARY_COLUMNS, _GRAD_RATIO_COLUMN) if has_ratio else _SUMMARY_COLUMNS


def _replicates(ctx: ReportContext) -> str:
    """The best cell against the next ones: difference of means, Welch CI, verdict; or why there is none."""
    comparison = compare_top(ctx.per_run, ctx.summary)
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
        rows.append([
            f"{_swatch(ctx, row.best)} − {_swatch(ctx, row.other)}", _e(f"{row.n_best} / {row.n_other}"),
            _e(f"{row.diff:+.4f}"), _e(ci), _e(_fmt(row.dof, "{:.1f}")), f"<strong>{_e(row.verdict)}</strong>",
        ])
    note = (
        f'<p class="note">The best cell by mean final test accuracy against each of the next {TOP_CELLS - 1}. '
        "Difference of the two means with Welch's confidence interval (each cell keeps its own variance; "
        "degrees of freedom by Welch–Satterthwaite). <em>Resolved</em>: the interval excludes 0, the "
        "ranking holds beyond seed noise; <em>within noise</em>: it does not; <em>needs replicates</em>: "
        "a cell has fewer than two finished seeds.</p>"
    )
    return note + _table(headers, rows, numeric=range(1, 5))


def _factor_section(ctx: ReportContext) -> str:
    """Main effects, two-way interactions and the ANOVA table; nothing without an axis of two levels."""
    factors = factor_axes(ctx.study.axes)
    if not factors:
        return ""
    parts = [_main_effects_table(ctx), _interaction_tables(ctx, factors), _anova_table(ctx)]
    return _section("Factor effects", "".join(parts))


def _main_effects_table(ctx: ReportContext) -> str:
    """Mean final test accuracy per level of each axis, from cell means."""
    effects = main_effects(ctx.per_run, ctx.study.axes)
    rows = [
        [_e(row.axis), _e(row.level), _e(_fmt(row.mean, "{:.3f}")), _e(_fmt(row.effect, "{:+.3f}")),
         _e(str(row.n_cells)), _e(str(row.n_runs))]
        for row in effects.itertuples()
    ]
    note = (
        '<h3>Main effects</h3><p class="note">Mean final test accuracy of the cells at each level, averaged '
        "over the levels of the other axes (each cell counts once, whatever its number of seeds); effect: "
        "the difference from the mean of all cells.</p>"
    )
    headers = ["Axis", "Level", "Mean final test acc", "Effect", "Cells", "Runs"]
    return note + _table(headers, rows, numeric=range(2, 6))


def _interaction_tables(ctx: ReportContext, factors: list) -> str:
    """One table per pair of axes: mean final test accuracy per level combination and its interaction."""
    pairs = list(itertools.combinations(factors, 2))
    if not pairs:
        return ""
    html_parts = [
        '<h3>Two-way interactions</h3><p class="note">Mean final test accuracy per combination of two axes '
        "(cell means, averaged over the other axes); in parentheses the interaction: how much the "
        "combination differs from what the two main effects alone predict (mean − row mean − column mean "
        "+ table mean). Near 0: the axes act independently.</p>"
    ]
    for rows_axis, cols_axis in pairs:
        table = interaction_table(ctx.per_run, ctx.study.axes, rows_axis, cols_axis)
        body = []
        for level in rows_axis.levels:
            cells = table[table[rows_axis.short] == level]
            body.append([_e(level), *(
                _e("–" if pd.isna(r["mean"]) else f"{r['mean']:.3f} ({r['interaction']:+.3f})")
                for _, r in cells.iterrows()
            )])
        headers = [f"{rows_axis.short} ↓  {cols_axis.short} →", *cols_axis.levels]
        html_parts.append(_table(headers, body, numeric=range(1, len(headers))))
    return "".join(html_parts)


def _anova_table(ctx: ReportContext) -> str:
    """How much of the variance of the per-run final test accuracies each axis and pair explains."""
    table, balanced = anova(ctx.per_run, ctx.study.axes)
    rows = [
        [_e(row.term), _e(str(row.df)), _e(f"{row.ss:.3g}"), _e(_fmt(row.share, "{:.1f} %")),
         _e(_fmt(row.f, "{:.1f}")), _e(_p_value(row.p))]
        for row in table.itertuples()
    ]
    note = (
        '<h3>Variance explained</h3><p class="note">Analysis of variance of the final test accuracy of '
        "every finished run: the total sum of squares around the overall mean, split into the part each "
        "axis explains, each pair's interaction, and the residual spread between seeds of the same cell. "
        "Share: percent of the total. F and p test each term against the seed spread (only with "
        "several seeds per cell)."
    )
    if not balanced:
        note += (
            " <strong>Approximate:</strong> the grid is unbalanced (cells excluded, failed, or with unequal "
            "seeds), so terms are fitted in the order listed (sequential sums of squares) and an earlier "
            "axis takes the variance it shares with a later one."
        )
    return note + "</p>" + _table(["Term", "df", "SS", "Share of total", "F", "p"], rows, numeric=range(1, 6))


def _p_value(p: float) -> str:
    """A p-value for humans: '–' without one, '< 0.0001' when tiny."""
    if pd.isna(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _runs_table(ctx: ReportContext) -> str:
    """One row per cell × seed, in grid order, with its MLflow run id and failure."""
    headers = [
        "Cell", "Seed", "Status", "Final test acc", "Best test acc", "Final train acc",
        "Iterations", "Wall time (s)", "Failure", "MLflow run",
    ]
    rows, classes = [], []
    for row in ctx.per_run.itertuples():
        failure = "" if pd.isna(row.failure) else row.failure
        if pd.notna(row.failure_step):
            failure += f" (iteration {row.failure_step:,})"
        accuracies = (row.final_test_acc, row.best_test_acc, row.final_train_acc)
        values = [
            row.seed, row.status, *(_fmt(v, "{:.3f}") for v in accuracies),
            _fmt(row.iterations, "{:,.0f}"), _fmt(row.wall_time_s, "{:,.1f}"), failure,
        ]
        rows.append([_swatch(ctx, row.cell), *(_e(str(v)) for v in values), f"<code>{_e(row.run_id)}</code>"])
        classes.append("" if row.status == FINISHED else "failed")
    return _table(headers, rows, numeric=range(3, 8), row_classes=classes)


def _figure(figure: ReportFigure, png: bytes) -> str:
    """A figure with its heading and caption, the PNG embedded as base64."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{figure.slug}"><h3>{_e(figure.title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{_e(figure.title)}">'
        f"<figcaption>{_e(figure.caption)}</figcaption></figure>"
    )


def _table(
    headers: list[str], rows: list[list[str]], numeric: range = range(0), row_classes: Iterable[str] = ()
) -> str:
    """An HTML table of already-escaped cells, the `numeric` columns right-aligned."""

    def cells(values: list[str], tag: str) -> str:
        return "".join(f'<{tag}{" class=num" if i in numeric else ""}>{v}</{tag}>' for i, v in enumerate(values))

    classes = itertools.chain(row_classes, itertools.repeat(""))
    body = "".join(f'<tr{f" class={c}" if c else ""}>{cells(r, "td")}</tr>' for r, c in zip(rows, classes))
    return f"<table><thead><tr>{cells([_e(h) for h in headers], 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, content: str) -> str:
    """A titled report section."""
    return f"<section><h2>{_e(title)}</h2>\n{content}\n</section>"


def _list(lines: list[str]) -> str:
    """Plain-text lines as an escaped bullet list."""
    return "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"


def _swatch(ctx: ReportContext, cell: str) -> str:
    """A cell's name preceded by its colour square."""
    return f'<span class="swatch" style="background:{to_hex(ctx.palette[cell])}"></span>{_e(cell)}'


def _mean_ci(row: pd.Series, stat: str, mean_fmt: str, ci_fmt: str) -> str:
    """'mean ± ci' of a summary statistic; the mean alone without a CI; '–' without a value."""
    mean, ci = row[f"{stat}_mean"], row[f"{stat}_ci"]
    if pd.isna(mean):
        return "–"
    return mean_fmt.format(mean) if pd.isna(ci) else f"{mean_fmt.format(mean)} ± {ci_fmt.format(ci)}"


def _fmt(value, fmt: str) -> str:
    """A number formatted, '–' when missing."""
    return "–" if pd.isna(value) else fmt.format(value)


def _duration(seconds: float) -> str:
    """A duration for humans: seconds, minutes or hours."""
    if pd.isna(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _timestamp(millis: int) -> str:
    """An MLflow timestamp (ms since the epoch) as local date and time."""
    return f"{datetime.fromtimestamp(millis / 1000):%Y-%m-%d %H:%M}"


def _e(text: str) -> str:
    """HTML-escape text."""
    return html.escape(str(text))


# ---------------------------------------------------------------------------- files


def _write_files(ctx: ReportContext, out: Path) -> Path:
    """Write the figures, the CSV tables and report.html into out; return the HTML path."""
    figures = render_figures(ctx)
    figure_dir, report = out / "figures", out / "report.html"
    try:
        figure_dir.mkdir(parents=True, exist_ok=True)
        for stale in figure_dir.glob("*.png"):  # figures of an earlier report that may not apply any more
            stale.unlink()
        for figure, png in figures:
            (figure_dir / f"{figure.slug}.png").write_bytes(png)
        ctx.summary.to_csv(out / "summary.csv", index=False)
        ctx.per_run.to_csv(out / "runs.csv", index=False)
        ctx.study.curves.to_csv(out / "curves.csv", index=False)
        report.write_text(render_html(ctx, figures), encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    return report


def _log_to_parent(client: MlflowClient, parent_run_id: str, out: Path) -> None:
    """Attach report.html, summary.csv and the figures to the parent run under `report/`."""
    client.log_artifact(parent_run_id, str(out / "report.html"), "report")
    client.log_artifact(parent_run_id, str(out / "summary.csv"), "report")
    client.log_artifacts(parent_run_id, str(out / "figures"), "report/figures")
