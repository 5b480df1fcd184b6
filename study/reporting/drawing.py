"""What the report's figures share: their panel grid, mean lines with confidence bands, PNG bytes, labels."""

from __future__ import annotations

import io
import math
import re
import textwrap

import pandas as pd
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from study.reporting.facet_layout import FacetFigure

DPI = 100
PANEL_SIZE = (3.4, 2.5)  # inches per learning-curve panel
MAX_FACET_COLUMNS = 5
ACC_LIMITS = (-0.02, 1.02)


def facet_figure(n: int, ylabel: str = "accuracy") -> tuple[Figure, list]:
    """A figure of n panels with shared axes, wrapped into rows, sized so each panel stays legible."""
    ncols = min(n, MAX_FACET_COLUMNS, max(2, math.ceil(math.sqrt(n))))
    nrows = math.ceil(n / ncols)
    fig = FacetFigure(figsize=(PANEL_SIZE[0] * ncols, PANEL_SIZE[1] * nrows + 0.4))
    grid = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False).ravel()
    for ax in grid[n:]:
        fig.delaxes(ax)
    for ax in grid[max(0, n - ncols) : n]:  # the lowest panel of each column
        ax.tick_params(labelbottom=True)
        ax.set_xlabel("iteration")
    for ax in grid[:n:ncols]:
        ax.set_ylabel(ylabel)
    return fig, list(grid[:n])


def plot_band(ax, band: pd.DataFrame, color, linestyle: str = "-", label: str | None = None) -> None:
    """Draw a mean line and, where it has width, its confidence band."""
    ax.plot(
        band["step"],
        band["mean"],
        color=color,
        linestyle=linestyle,
        linewidth=1.4,
        label=label,
        marker=lone_point(band),
    )
    if (band["hi"] > band["lo"]).any():
        ax.fill_between(band["step"], band["lo"], band["hi"], color=color, alpha=0.2, linewidth=0)


def lone_point(points: pd.DataFrame) -> str | None:
    """A marker for a line of one point (a metric evaluated once), which would otherwise not show."""
    return "o" if len(points) == 1 else None


def plot_others(ax, bands: list[pd.DataFrame]) -> None:
    """The cells not drawn one by one, as thin grey mean lines in one collection (fast for thousands)."""
    if bands:
        lines = [list(zip(band["step"], band["mean"])) for band in bands]
        ax.add_collection(LineCollection(lines, colors="0.75", linewidths=0.5, zorder=0))
        ax.autoscale_view()


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def wrap(text: str, width: int = 34) -> str:
    """Break a long label onto several lines."""
    return "\n".join(textwrap.wrap(text, width)) or text


def slug(text: str) -> str:
    """A file-name-safe version of a figure name."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)
