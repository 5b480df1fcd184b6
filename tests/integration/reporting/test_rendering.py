"""The report's figures drawn in forked workers are the figures drawn in the report's own process."""

from __future__ import annotations

import os
import threading

from mlflow import MlflowClient

from study.reporting import rendering
from study.reporting.context import build_context
from study.reporting.forking import can_fork
from study.reporting.rendering import start_rendering
from study.store.reader import CURVE_METRICS, DIAGNOSTIC_CURVES, find_experiment, find_parent, load_study_runs
from tests.support.student_store import build_student_store


def _context(tmp_path, blank_db):
    client = MlflowClient(build_student_store(tmp_path, blank_db))
    experiment = find_experiment(client, "student")
    parent = find_parent(client, experiment)
    return build_context(load_study_runs(client, experiment, parent, (*CURVE_METRICS, *DIAGNOSTIC_CURVES)))


def _forking(monkeypatch) -> None:
    """Fork whatever threads earlier tests in this process left (writers, progress-bar monitors): the
    policy has its own test below; these test the workers."""
    monkeypatch.setattr(rendering, "can_fork", lambda: True)


def test_forked_workers_draw_the_same_pngs_in_the_same_order(tmp_path, blank_db, monkeypatch):
    ctx = _context(tmp_path, blank_db)
    _forking(monkeypatch)
    here = start_rendering(ctx, workers=1).figures()
    forked = start_rendering(ctx, workers=2).figures()
    assert len(here) >= 4
    assert [(f.slug, f.title, f.caption) for f, _ in forked] == [(f.slug, f.title, f.caption) for f, _ in here]
    assert [png for _, png in forked] == [png for _, png in here]
    assert all(f.figure is None for f, _ in forked)  # only the bytes came back


def test_a_process_running_other_threads_draws_its_figures_itself(tmp_path, blank_db):
    ctx = _context(tmp_path, blank_db)
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert not can_fork()
        drawn = start_rendering(ctx, workers=2).figures()  # the policy itself, not the stand-in above
    finally:
        stop.set()
        other.join()
    assert all(f.figure is not None for f, _ in drawn)  # drawn here, not in a worker


def test_a_worker_that_dies_leaves_the_figures_to_the_report_process(tmp_path, blank_db, monkeypatch):
    ctx = _context(tmp_path, blank_db)
    here = start_rendering(ctx, workers=1).figures()
    report = os.getpid()

    def killed_in_a_worker(_ctx):  # as the kernel's OOM killer would end a worker
        if os.getpid() != report:
            os._exit(9)
        return []

    _forking(monkeypatch)
    monkeypatch.setattr(rendering, "FIGURE_BUILDERS", (killed_in_a_worker, *rendering.FIGURE_BUILDERS))
    drawn = start_rendering(ctx, workers=2).figures()
    assert [(f.slug, png) for f, png in drawn] == [(f.slug, png) for f, png in here]
