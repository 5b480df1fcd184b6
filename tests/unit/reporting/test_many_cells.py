"""The report of a study with more cells than a page holds (study/reporting/many_cells.py): per-cell panels
for the best and worst cells only, every axis summarised by its levels, tables cut with a note. The hand-built
`reps` study (4 cells) is made 'many' by lowering the limit to 2 cells."""

from __future__ import annotations

import pandas as pd
import pytest
from matplotlib.collections import LineCollection

from study.reporting import figures, many_cells
from study.reporting.context import build_context

CELLS = [f"c{i}" for i in range(30)]


def test_up_to_the_limit_every_cell_is_drawn_in_grid_order():
    few = CELLS[: many_cells.MAX_PANEL_CELLS]
    assert many_cells.shown_cells(list(reversed(few)), few) == few


def test_past_the_limit_the_best_and_worst_cells_are_drawn_best_first():
    ranked = list(reversed(CELLS))  # c29 best … c0 worst
    shown = many_cells.shown_cells(ranked, CELLS)
    assert shown == [*ranked[: many_cells.TOP_CELLS], *ranked[-many_cells.BOTTOM_CELLS :]]
    assert len(set(shown)) == many_cells.TOP_CELLS + many_cells.BOTTOM_CELLS


def test_a_long_table_keeps_the_marked_rows_first_in_its_own_order():
    frame = pd.DataFrame({"x": range(250)})
    keep = frame["x"] % 50 == 49  # 5 rows, beyond the first 100
    shown, note = many_cells.truncated(frame, "runs.csv", keep, "failed runs first")
    assert len(shown) == many_cells.MAX_TABLE_ROWS and set(frame["x"][keep]) <= set(shown["x"])
    assert shown["x"].is_monotonic_increasing
    assert note == '<p class="note">100 of 250 rows shown (failed runs first); runs.csv holds every row.</p>'
    small, none = many_cells.truncated(frame.head(100), "runs.csv")
    assert len(small) == 100 and none == ""


@pytest.fixture
def many(reps_context, monkeypatch):
    """The reps study's context with 'many' meaning more than 2 cells, one best and one worst drawn."""
    monkeypatch.setattr(many_cells, "MAX_PANEL_CELLS", 2)
    monkeypatch.setattr(many_cells, "TOP_CELLS", 1)
    monkeypatch.setattr(many_cells, "BOTTOM_CELLS", 1)
    return build_context(reps_context[0])


def test_learning_curves_of_many_cells_draw_the_best_and_the_worst(many):
    (curves,) = figures.learning_curves(many)
    titles = [ax.get_title() for ax in curves.figure.axes]
    best, worst = many.summary["cell"].iloc[0], many.summary["cell"].iloc[-1]
    assert titles == [best, worst]
    assert "Of the 4 cells, the 1 best and the worst" in curves.caption


def test_the_overlay_draws_the_other_cells_grey_without_a_legend_entry(many):
    overlay = figures.test_accuracy_overlay(many)[0]
    ax = overlay.figure.axes[0]
    grey = [c for c in ax.collections if isinstance(c, LineCollection)]
    assert len(grey) == 1 and len(grey[0].get_segments()) == 2
    assert len(ax.get_lines()) == 2 and "the other 2 cells" in overlay.caption


def test_many_cells_get_one_panel_per_axis_with_a_line_per_level(many):
    (by_level,) = many_cells.level_curves(many)
    panels = by_level.figure.axes
    assert [ax.get_title() for ax in panels] == [a.short for a in many.study.axes]
    for ax, axis in zip(panels, many.study.axes):
        assert [line.get_label() for line in ax.get_lines()] == list(axis.levels)
    relu = panels[0].get_lines()[0].get_ydata()[-1]  # activation=relu: mean of its two cells' final accuracy
    finals = many.per_run[many.per_run["axis.activation"] == "relu"]["final_test_acc"]
    assert relu == pytest.approx(finals.mean())


def test_a_small_study_gets_no_level_figure_and_no_note(reps_context):
    ctx = build_context(reps_context[0])
    assert many_cells.level_curves(ctx) == []
    (curves,) = figures.learning_curves(ctx)
    assert len(curves.figure.axes) == 4 and "Of the" not in curves.caption
