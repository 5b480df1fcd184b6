"""A report of 300 cells stays bounded: a dozen per-cell panels, the axes summarised by level, the tables cut
at a hundred rows with their notes. The figures are built, not rendered to PNG: their size is what bounds it."""

from __future__ import annotations

import re

from study.reporting import many_cells
from study.reporting.context import build_context
from study.reporting.figures import FIGURE_BUILDERS
from study.reporting.html import render_html
from tests.support.many_cells import many_cell_study


def test_a_report_of_300_cells_stays_bounded():
    ctx = build_context(many_cell_study())
    assert len(ctx.study.cells) == 300
    figures = {figure.slug: figure for builder in FIGURE_BUILDERS for figure in builder(ctx)}
    drawn = many_cells.TOP_CELLS + many_cells.BOTTOM_CELLS
    assert len(figures["learning_curves"].figure.axes) == drawn
    assert len(figures["gradient_flow"].figure.axes) == drawn
    assert len(figures["test_score_by_level"].figure.axes) == 3  # one panel per axis
    assert all(w * h < 200 for w, h in (f.figure.get_size_inches() for f in figures.values()))  # square inches
    page = render_html(ctx, [(figure, b"") for figure in figures.values()])
    assert "100 of 300 rows shown (the best cells); summary.csv holds every row." in page
    assert "100 of 300 rows shown (unfinished runs first); runs.csv holds every row." in page
    assert len(re.findall(r"<tr", page)) < 400  # 300 cells, 300 runs and their comparisons, cut
    assert len(page) < 300_000
