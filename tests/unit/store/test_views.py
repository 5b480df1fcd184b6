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


def cell_runs(store, exp_id: str, parent: str, n: int) -> list[str]:
    """n finished cell runs trained by `parent`."""
    ids = []
    for _ in range(n):
        run = store.client.create_run(exp_id, tags={"mlflow.parentRunId": parent, "study.role": "cell"})
        store.end(run.info.run_id)
        ids.append(run.info.run_id)
    return ids


def test_a_study_run_view_lists_its_cells_skipped_ones_included(blank_store) -> None:
    """The view `study ui` opens: the study's columns and sort, and a search that MLflow answers with exactly
    the cells the run's manifest lists (one trained by an earlier run too), no other run's."""
    import json

    from study.store.contract import Artifact, Tag
    from study.store.views import VIEW_KEY, runs_view, share_study_run_view

    exp_id = blank_store.experiment_id("views")
    first = blank_store.start_parent(exp_id, "views", {Tag.AXES: json.dumps(["model.activation"])})
    (earlier, dropped) = cell_runs(blank_store, exp_id, first, 2)
    second = blank_store.start_parent(exp_id, "views", {Tag.AXES: json.dumps(["model.activation"])})
    (trained,) = cell_runs(blank_store, exp_id, second, 1)
    manifest = [{"run_id": earlier, "status": "skipped"}, {"run_id": trained, "status": "done"}]
    blank_store.log_text(second, json.dumps(manifest), Artifact.MANIFEST)

    key = share_study_run_view(blank_store.client, second)
    assert key == f"{VIEW_KEY}-run-{second}"
    view = json.loads(blank_store.client.get_experiment(exp_id).tags[Tag.SHARED_VIEW + key])
    assert {k: v for k, v in view.items() if k != "searchFilter"} == runs_view(["model.activation"])
    shown = {r.info.run_id for r in blank_store.client.search_runs([exp_id], view["searchFilter"])}
    assert shown == {earlier, trained}  # not `dropped` (the first run's other cell), not the parents

    running = share_study_run_view(blank_store.client, first)  # no manifest yet: the runs it trained so far
    view = json.loads(blank_store.client.get_experiment(exp_id).tags[Tag.SHARED_VIEW + running])
    assert {r.info.run_id for r in blank_store.client.search_runs([exp_id], view["searchFilter"])} == {earlier, dropped}


def test_a_study_run_of_too_many_cells_to_list_is_searched_by_its_parent() -> None:
    """An experiment tag holds 20,000 characters: a manifest of hundreds of runs is listed, more are not."""
    from study.store.views import study_run_view

    view = study_run_view(["optimizer.lr"], "p" * 32, [f"{k:032x}" for k in range(1000)])
    assert view["searchFilter"] == "tags.`mlflow.parentRunId` = '" + "p" * 32 + "'"
    listed = study_run_view(["optimizer.lr"], "p" * 32, [f"{k:032x}" for k in range(400)])["searchFilter"]
    assert listed.startswith("attributes.run_id IN (") and listed.count("'") == 800
