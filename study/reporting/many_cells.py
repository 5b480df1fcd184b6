"""What the report shows of a study with more cells than a page can hold: a panel per cell up to
MAX_PANEL_CELLS, beyond that the best and the worst cells only, with every axis summarised by its levels
(the learning curve of each level, averaged over the cells at it) and the full tables in the CSV files."""

from __future__ import annotations

import math

import pandas as pd
from matplotlib.figure import Figure

from study.analysis.statistics import curve_band
from study.reporting.context import ReportContext, ReportFigure

MAX_PANEL_CELLS = 24  # up to this many cells, every figure draws every cell
TOP_CELLS, BOTTOM_CELLS = 6, 3  # beyond it, the best and the worst cells by the ranking metric
MAX_TABLE_ROWS = 100  # rows of a per-cell or per-run table in the HTML; the CSV files hold them all
LEVEL_PANEL_SIZE = (4.2, 3.0)  # inches per axis panel


def is_many(cells: int) -> bool:
    """Whether a study has too many cells to draw one by one."""
    return cells > MAX_PANEL_CELLS


def shown_cells(ranked: list[str], grid_order: list[str]) -> list[str]:
    """The cells figures draw one by one: every cell in grid order, or, past MAX_PANEL_CELLS, the
    TOP_CELLS best and BOTTOM_CELLS worst, best first (`ranked`: best first)."""
    if not is_many(len(grid_order)):
        return grid_order
    best = ranked[:TOP_CELLS]
    return best + [cell for cell in ranked[-BOTTOM_CELLS:] if cell not in best]


def panel_cells(ctx: ReportContext, candidates: list[str]) -> list[str]:
    """Of the cells a figure could draw (grid order), those it draws: see `shown_cells`."""
    ranked = [cell for cell in ctx.summary["cell"] if cell in set(candidates)]
    return shown_cells(ranked, candidates)


def selection_note(ctx: ReportContext, drawn: int, total: int) -> str:
    """The caption sentence saying which cells a figure left out, empty when it drew all."""
    if drawn >= total:
        return ""
    return (
        f" Of the {total:,} cells, the {min(TOP_CELLS, drawn)} best and the worst by mean {ctx.metric_words} are "
        "drawn; every cell's numbers are in summary.csv and curves.csv."
    )


def level_curves(ctx: ReportContext) -> list[ReportFigure]:
    """Past MAX_PANEL_CELLS: one panel per axis, a line per level, the test score averaged over every run at
    that level (mean and 95 % band over those runs): the whole study at a glance."""
    score = f"test_{ctx.task.score}"
    axes = [axis for axis in ctx.study.axes if len(axis.levels) >= 2]
    curve = ctx.curve(score)
    if not is_many(len(ctx.study.cells)) or not axes or curve.empty:
        return []
    ncols = min(len(axes), 3)
    nrows = math.ceil(len(axes) / ncols)
    size = (LEVEL_PANEL_SIZE[0] * ncols, LEVEL_PANEL_SIZE[1] * nrows + 0.3)
    fig = Figure(figsize=size, layout="constrained")
    panels = fig.subplots(nrows, ncols, sharey=True, squeeze=False).ravel()
    level_of = ctx.study.runs.set_index("run_id")
    for ax, axis in zip(panels, axes):
        by_level = curve.assign(cell=curve["run_id"].map(level_of[axis.column]))
        bands = dict(tuple(curve_band(by_level).groupby("cell")))
        colors = _level_colors(len(axis.levels))
        for level, color in zip(axis.levels, colors):
            if level in bands:
                band = bands[level]
                ax.plot(band["step"], band["mean"], color=color, linewidth=1.4, label=level)
                ax.fill_between(band["step"], band["lo"], band["hi"], color=color, alpha=0.15, linewidth=0)
        ax.set(title=axis.short, xlabel="iteration")
        ax.legend(fontsize="x-small", ncols=2 if len(axis.levels) > 5 else 1, frameon=False)
    for ax in panels[len(axes) :]:
        fig.delaxes(ax)
    for ax in panels[: len(axes) : ncols]:
        ax.set_ylabel(f"test {ctx.task.score_name}")
    if ctx.task.score != "acc":
        panels[0].set_yscale("log")
    caption = (
        f"Test {ctx.task.score_name} against iteration for each level of each axis: the mean over every run at "
        f"that level (all {len(ctx.study.cells):,} cells' seeds, whatever the other axes) and its 95 % band."
    )
    return [ReportFigure("test_score_by_level", f"Test {ctx.task.score_name} by axis level", caption, fig)]


def truncated(
    frame: pd.DataFrame, csv: str, keep: pd.Series | None = None, which: str = ""
) -> tuple[pd.DataFrame, str]:
    """At most MAX_TABLE_ROWS rows of a table for the HTML (the rows `keep` marks first, then the others, in
    the table's order) and the note saying which are shown and that `csv` holds them all; the table and no note
    when it fits."""
    if len(frame) <= MAX_TABLE_ROWS:
        return frame, ""
    order = list(frame.index) if keep is None else [*frame.index[keep], *frame.index[~keep]]
    shown = frame.loc[sorted(order[:MAX_TABLE_ROWS], key=frame.index.get_loc)]
    which = f" ({which})" if which else ""
    note = f'<p class="note">{MAX_TABLE_ROWS} of {len(frame):,} rows shown{which}; {csv} holds every row.</p>'
    return shown, note


def _level_colors(n: int) -> list:
    """One colour per level: a sequential map, as levels are often ordered (learning rates, widths)."""
    from matplotlib import colormaps

    cmap = colormaps["viridis"]
    return [cmap(0.85 * i / max(1, n - 1)) for i in range(n)]
