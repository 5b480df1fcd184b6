"""How many processes a report may fork (its figures, its store process): STUDY_REPORT_WORKERS, else one per usable CPU."""

from __future__ import annotations

import pytest

from study.errors import StudyError
from study.reporting.forking import default_workers
from study.runtime.numerics import default_threads


def test_the_variable_sets_the_workers(monkeypatch):
    monkeypatch.setenv("STUDY_REPORT_WORKERS", " 3 ")
    assert default_workers() == 3
    monkeypatch.setenv("STUDY_REPORT_WORKERS", "0")
    assert default_workers() == 1


def test_without_it_one_per_usable_cpu(monkeypatch):
    monkeypatch.delenv("STUDY_REPORT_WORKERS")
    assert default_workers() == default_threads()


def test_a_value_that_is_not_a_number_is_one_clear_error(monkeypatch):
    monkeypatch.setenv("STUDY_REPORT_WORKERS", "two")
    with pytest.raises(StudyError, match=r"STUDY_REPORT_WORKERS='two' is not a number of processes; valid: an integer"):
        default_workers()
