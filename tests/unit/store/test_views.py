"""What the MLflow UI shows of a study (study/store/views.py): the parent run's Description links and its
summary table."""

from __future__ import annotations


def test_parent_description_links_what_the_parent_holds() -> None:
    """Links only to artifacts the parent holds, the report first; without a report, how to add one."""
    from study.store.views import parent_description

    text = parent_description("smoke", "Two tiny cells.", "7", "abc", ["study.yaml", "summary.md"])
    first = text.splitlines()[0]
    assert "[summary](#/experiments/7/runs/abc/artifacts/summary.md?" in first
    assert "[study file](#/experiments/7/runs/abc/artifacts/study.yaml?" in first
    assert "report/report.html" not in first and "cells.json" not in text
    assert "Two tiny cells." in text and "`study report smoke --run abc`" in text
    with_report = parent_description("smoke", "", "7", "abc", ["report/report.html", "study.yaml"])
    assert with_report.splitlines()[0].index("[report](") < with_report.splitlines()[0].index("[study file](")
    assert "no report yet" not in with_report


def test_summary_table_lists_every_cell() -> None:
    """The parent's summary.md: one row per cell, blank numbers where a cell has no metrics."""
    from study.store.views import summary_markdown

    rows = summary_markdown(
        [
            ("relu · he · seed 0", "done", {"final_test_acc": 0.71, "best_test_acc": 0.72, "wall_time_s": 1.25}),
            ("sigmoid · seed 0", "failed", {}),
        ]
    ).splitlines()
    assert rows[2] == "| relu · he · seed 0 | done | 0.7100 | 0.7200 | 1.2 |"
    assert rows[3] == "| sigmoid · seed 0 | failed |  |  |  |"
