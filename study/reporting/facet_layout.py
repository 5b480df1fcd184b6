"""A figure of panels that share their axes, laid out as it is drawn: margins fitted to the labels measured
on the two panels that carry them. Constrained layout measures every panel, and its layout engine makes
savefig draw the figure twice: half of a 9-panel figure's time. Here only the titles, which differ from
panel to panel, are measured one by one, within the one draw."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

PAD = 0.06  # inches of air around the labels and between panels


class FacetFigure(Figure):
    """A shared-axes panel grid and a figure legend at its top right, fitted into the figure when drawn."""

    def draw(self, renderer) -> None:
        arrange(self, renderer)
        super().draw(renderer)


def facet_legend(fig: Figure, handles: list, ncols: int) -> None:
    """A facet figure's legend above its top right corner, in one row of up to `ncols` entries, in more
    rows where one would be wider than the figure."""
    renderer = FigureCanvasAgg(fig).get_renderer()  # the canvas its PNG is drawn on
    for columns in range(ncols, 0, -1):
        legend = fig.legend(handles=handles, loc="upper right", ncols=columns, frameon=False, borderaxespad=PAD)
        if columns == 1 or legend.get_window_extent(renderer).width <= fig.bbox.width:
            return
        legend.remove()


def arrange(fig: Figure, renderer) -> None:
    """Set the grid's margins and gaps from its labels', titles' and legends' measured extents."""
    axes = [ax for ax in fig.axes if ax.get_visible()]
    if not axes:
        return
    inch = fig.dpi
    width, height = fig.get_size_inches()
    rows = _rows(axes)
    first, last = (_overhang(ax, renderer, inch) for ax in (rows[0][0], rows[-1][-1]))
    titles = [max(_title_height(ax, renderer, inch) for ax in row) for row in rows]
    below = max(first[1], last[1])  # tick labels and the axis name under a panel that shows them
    legends = max((legend.get_window_extent(renderer).height / inch for legend in fig.legends), default=0.0)
    left, right = first[0] + PAD, max(first[2], last[2]) + PAD
    top = legends + titles[0] + 2 * PAD
    gap = max(
        (titles[i + 1] + (below if _shows_x_labels(row) else 0.0) + 2 * PAD for i, row in enumerate(rows[:-1])),
        default=0.0,
    )
    ncols = max(len(row) for row in rows)
    panel_h = (height - top - below - PAD - gap * (len(rows) - 1)) / len(rows)
    panel_w = (width - left - right - 2 * PAD * (ncols - 1)) / ncols
    if panel_h <= 0 or panel_w <= 0:
        return  # labels larger than the figure: leave matplotlib's defaults
    fig.subplots_adjust(
        left=left / width,
        right=1 - right / width,
        bottom=(below + PAD) / height,
        top=1 - top / height,
        hspace=gap / panel_h,
        wspace=2 * PAD / panel_w,
    )


def _rows(axes: list) -> list[list]:
    """The panels row by row, top first, each row left to right."""
    rows: dict[int, list] = {}
    for ax in axes:
        rows.setdefault(ax.get_subplotspec().rowspan.start, []).append(ax)
    return [sorted(rows[r], key=lambda ax: ax.get_subplotspec().colspan.start) for r in sorted(rows)]


def _overhang(ax, renderer, inch: float) -> tuple[float, float, float]:
    """How far a panel's labels reach past its frame, in inches: left, below, right."""
    bbox, frame = ax.get_tightbbox(renderer, for_layout_only=True), ax.get_window_extent(renderer)
    return (
        max(0.0, frame.x0 - bbox.x0) / inch,
        max(0.0, frame.y0 - bbox.y0) / inch,
        max(0.0, bbox.x1 - frame.x1) / inch,
    )


def _title_height(ax, renderer, inch: float) -> float:
    """How far a panel's title reaches above its frame, in inches (0 without one)."""
    if not ax.get_title():
        return 0.0
    return max(0.0, ax.title.get_window_extent(renderer).y1 - ax.get_window_extent(renderer).y1) / inch


def _shows_x_labels(row: list) -> bool:
    """Whether any panel of a row shows its x tick labels (a row above an incomplete last row does)."""
    return any(label.get_visible() for ax in row for label in ax.xaxis.get_ticklabels()[:1])
