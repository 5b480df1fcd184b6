"""Which study run `study ui` opens (study/ui.py `find_study_run`) and the URL it prints for it."""

from __future__ import annotations

import pytest

from study.errors import StudyError


def test_study_ui_opens_the_latest_study_run_unless_told_which(blank_store) -> None:
    from study.ui import find_study_run

    a = blank_store.experiment_id("a")
    b = blank_store.experiment_id("b")
    a_first = blank_store.start_parent(a, "a", {})
    b_only = blank_store.start_parent(b, "b", {})
    a_latest = blank_store.start_parent(a, "a", {})
    uri = blank_store.uri
    assert find_study_run(uri, None, None) == (a, a_latest)  # the latest `study run` of any study
    assert find_study_run(uri, "b", None) == (b, b_only)
    assert find_study_run(uri, "a", a_first) == (a, a_first)
    assert find_study_run(uri, None, b_only) == (b, b_only)  # the run names its study
    with pytest.raises(StudyError, match="is a run of another study"):
        find_study_run(uri, "a", b_only)
    cell = blank_store.client.create_run(a, tags={"study.role": "cell"}).info.run_id
    for wrong in (cell, "no-such-run", "x' or 1=1"):
        with pytest.raises(StudyError, match="--run: no `study run` with id"):
            find_study_run(uri, None, wrong)
    with pytest.raises(StudyError, match="studies there: a, b"):
        find_study_run(uri, "c", None)
    blank_store.experiment_id("empty")
    assert find_study_run(uri, "empty", None) == (
        blank_store.client.get_experiment_by_name("empty").experiment_id,
        None,
    )


def test_the_url_names_the_view_of_the_run() -> None:
    from study.ui import experiment_url

    base = "http://127.0.0.1:5000"
    assert experiment_url(base, "3", "study-run-abc") == (
        f"{base}/#/experiments/3/runs?workflowType=machine_learning&viewStateShareKey=study-run-abc"
    )
    assert experiment_url(base, "3").endswith("&viewStateShareKey=study")
    assert experiment_url(base, None) == f"{base}/#/?workflowType=machine_learning"
