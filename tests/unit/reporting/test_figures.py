"""The zoomed view of the test-accuracy overlay: the final stretch, its range set by the data."""

from __future__ import annotations

from mlflow import MlflowClient

from study.reporting import figures  # the module: a test_* name imported would be collected
from study.reporting.context import build_context
from study.store.reader import find_experiment, find_parent, load_study_runs
from tests.support.student_store import build_student_store, final_accuracies


def test_final_stretch_zooms_to_the_cells_values(tmp_path, blank_db):
    client = MlflowClient(build_student_store(tmp_path, blank_db))
    experiment = find_experiment(client, "student")
    ctx = build_context(load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc",)))
    overlay, zoom = figures.test_accuracy_overlay(ctx)
    assert overlay.figure.axes[0].get_ylim() == (-0.02, 1.02)
    low, high = zoom.figure.axes[0].get_ylim()
    finals = [v for values in final_accuracies().values() for v in values]
    assert 0.85 < low < min(finals) - 0.004 and max(finals) < high < 0.95  # the curves end at 0.89–0.92
    assert zoom.figure.axes[0].get_xlim() == (20, 30)  # from the last evaluation before the final 30 %
    assert all(len(line.get_xdata()) >= 2 for line in zoom.figure.axes[0].get_lines())  # lines, not dots
    assert "the accuracy axis zoomed to" in zoom.caption


def test_cells_at_chance_are_left_out_of_the_zoom(toy_summary):
    study, _, _ = toy_summary
    _, zoom = figures.test_accuracy_overlay(build_context(study))
    assert "Left out, at chance level: sigmoid · gauss(0.01)" in zoom.caption
    assert zoom.figure.axes[0].get_ylim()[0] > 0.3  # the stuck cell (0.10) does not stretch the axis
