"""The facet grids' own layout: every label inside the figure, nothing overlapping, the panels filling it."""

from __future__ import annotations

import io

import matplotlib
import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.lines import Line2D

from study.reporting.drawing import facet_figure
from study.reporting.facet_layout import facet_legend
from study.reporting.figures import STYLE


def _drawn_grid(n: int, title_lines: int, log: bool = False):
    """A facet figure of n panels with titles of `title_lines` lines and a legend, drawn once to PNG."""
    with matplotlib.rc_context(STYLE):
        fig, axes = facet_figure(n, "gradient norm" if log else "accuracy")
        for i, ax in enumerate(axes):
            ax.plot([0, 1000, 2000], [1e-3, 1e-1, 1.0] if log else [0.1, 0.5, 0.9])
            ax.set_title("\n".join([f"relu · lr=0.{i} · 100x50"] * title_lines), fontsize="medium")
            if log:
                ax.set_yscale("log")
        handles = [Line2D([], [], label=name) for name in ("dense_1", "dense_2", "dense_3")]
        facet_legend(fig, handles, 3)
        canvas = FigureCanvasAgg(fig)
        fig.savefig(io.BytesIO(), format="png")
    return fig, axes, canvas.get_renderer()


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


@pytest.mark.parametrize(("n", "title_lines", "log"), [(7, 2, True), (9, 1, False), (2, 3, False), (1, 1, True)])
def test_every_label_is_inside_the_figure_and_apart(n, title_lines, log):
    fig, axes, renderer = _drawn_grid(n, title_lines, log)
    page = fig.bbox
    boxes = [ax.get_tightbbox(renderer) for ax in axes]
    legend = fig.legends[0].get_window_extent(renderer)
    for box in [*boxes, legend]:
        assert page.x0 - 1 <= box.x0 and box.x1 <= page.x1 + 1 and page.y0 - 1 <= box.y0 and box.y1 <= page.y1 + 1
    for i, a in enumerate(boxes):
        assert not _overlap(a, legend)
        for b in boxes[i + 1 :]:
            assert not _overlap(a, b)  # titles clear the x labels of the row above, tick labels their neighbours


def test_the_panels_fill_the_figure():
    fig, axes, renderer = _drawn_grid(6, 1)
    frames = [ax.get_window_extent(renderer) for ax in axes]
    used_width = (max(f.x1 for f in frames) - min(f.x0 for f in frames)) / fig.bbox.width
    used_height = (max(f.y1 for f in frames) - min(f.y0 for f in frames)) / fig.bbox.height
    assert used_width > 0.85 and used_height > 0.75  # margins fitted to the labels, not matplotlib's defaults
