"""This machine's correction of the estimate (study/runtime/calibration.py): per kind of cell, the seconds
estimated and the seconds taken, older runs weighing half; another machine's file, a broken one and an
unwritable folder change nothing."""

from __future__ import annotations

import json

import pytest

from study.runtime import calibration as cal
from study.runtime.rate import machine_key


def test_a_kinds_correction_is_its_cells_seconds_taken_over_seconds_estimated(tmp_path):
    assert cal.calibration(tmp_path).ratio("exact/dense") == 1.0  # nothing recorded: no correction
    cal.record({"exact/dense": cal.Observed(10.0, 15.0, 4), "exact/conv": cal.Observed(20.0, 50.0, 2)}, tmp_path)
    known = cal.calibration(tmp_path)
    assert known.ratio("exact/dense") == 1.5 and known.ratio("exact/conv") == 2.5
    assert known.ratio("fast/dense") == 1.0  # another kind is not corrected by these
    assert known.cells(["exact/dense", "exact/dense", "fast/dense"]) == 4 and known.cells(["exact/conv"]) == 2


def test_the_runs_recorded_before_weigh_half_at_each_new_one(tmp_path):
    cal.record({"exact/dense": cal.Observed(10.0, 30.0, 4)}, tmp_path)  # x3
    cal.record({"exact/dense": cal.Observed(10.0, 10.0, 4)}, tmp_path)  # x1: (15 + 10) / (5 + 10)
    known = cal.calibration(tmp_path)
    assert known.ratio("exact/dense") == pytest.approx(25 / 15)
    assert known.cells(["exact/dense"]) == 6
    assert json.loads((tmp_path / cal.CACHE_FILE).read_text())["machine"] == machine_key()


def test_another_machines_file_or_a_broken_one_is_no_correction(tmp_path):
    path = tmp_path / cal.CACHE_FILE
    path.write_text(json.dumps({"machine": "elsewhere", "kinds": {"exact/dense": [1.0, 9.0, 1.0]}}))
    assert cal.calibration(tmp_path).ratio("exact/dense") == 1.0
    cal.record({"exact/dense": cal.Observed(2.0, 3.0, 1)}, tmp_path)  # replaces the other machine's
    assert cal.calibration(tmp_path).ratio("exact/dense") == 1.5
    for broken in ("{not json", '{"machine": 1}', json.dumps({"machine": machine_key(), "kinds": {"k": [1]}})):
        path.write_text(broken)
        assert cal.calibration(tmp_path).kinds == {}


def test_an_unwritable_cache_folder_is_no_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    cal.record({"exact/dense": cal.Observed(1.0, 2.0, 1)}, blocked / "cache")  # its parent is a file
    assert cal.calibration(blocked / "cache").kinds == {}
