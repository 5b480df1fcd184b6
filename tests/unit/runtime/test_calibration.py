"""This machine's correction of the estimate (study/runtime/calibration.py): per kind of cell, the factors of
the estimate's arithmetic and fixed costs that fit the seconds its cells took, each held toward 1 where the
cells do not tell the parts apart; older runs weighing half; another machine's file, an older format, a
broken one and an unwritable folder change nothing."""

from __future__ import annotations

import json

import pytest

from study.runtime import calibration as cal
from study.runtime.rate import machine_key


def cells(*rows: tuple[float, float, float]) -> cal.Observed:
    """The Observed of cells given as (arithmetic, fixed, measured) seconds."""
    seen = cal.Observed()
    for row in rows:
        seen = seen.plus(cal.Observed.cell(*row))
    return seen


def test_cells_of_different_mixes_give_each_part_its_own_factor(monkeypatch):
    rows = [(a, f, 2.0 * a + 1.25 * f) for a, f in ((10.0, 1.0), (1.0, 4.0), (5.0, 5.0), (0.5, 0.5))]
    monkeypatch.setattr(cal, "RIDGE", 0.0)
    assert cells(*rows).factors() == pytest.approx((2.0, 1.25))
    monkeypatch.undo()
    a, b = cells(*rows).factors()  # held toward 1 by RIDGE: each cell still predicted within a few percent
    assert [a * arithmetic + b * fixed for arithmetic, fixed, _ in rows] == pytest.approx(
        [m for *_, m in rows], rel=0.05
    )


def test_cells_that_are_all_fixed_cost_correct_that_part_and_leave_the_arithmetic_nearly_as_it_was():
    tiny = [(0.01, 0.13, 0.17)] * 200  # the 200 tiny cells: builds and steps, next to no arithmetic
    a, b = cells(*tiny).factors()
    assert a == pytest.approx(1.0, abs=0.05) and 0.01 * a + 0.13 * b == pytest.approx(0.17, rel=0.02)
    heavy = [(3.0, 0.2, 6.2)]  # a convolution probe: arithmetic only, twice as slow as estimated
    a, b = cells(*heavy).factors()
    assert a == pytest.approx(2.0, rel=0.05) and b == pytest.approx(1.0, abs=0.1)


def test_a_kinds_factors_are_recorded_per_kind_and_machine(tmp_path):
    assert cal.calibration(tmp_path).factors("exact/dense") == (1.0, 1.0)  # nothing recorded: no correction
    dense, conv = cells((10.0, 1.0, 15.0), (2.0, 3.0, 6.0)), cells((20.0, 1.0, 50.0))
    cal.record({"exact/dense": dense, "exact/conv": conv}, tmp_path)
    known = cal.calibration(tmp_path)
    assert known.factors("exact/dense") == dense.factors() and known.factors("exact/conv") == conv.factors()
    assert known.factors("fast/dense") == (1.0, 1.0)  # another kind is not corrected by these
    assert known.cells(["exact/dense", "exact/dense", "fast/dense"]) == 2 and known.cells(["exact/conv"]) == 1
    doc = json.loads((tmp_path / cal.CACHE_FILE).read_text())
    assert doc["machine"] == machine_key() and doc["format"] == cal.FORMAT


def test_the_runs_recorded_before_weigh_half_at_each_new_one(tmp_path):
    first, second = cells((1.0, 9.0, 30.0)), cells((1.0, 9.0, 10.0))
    cal.record({"exact/dense": first}, tmp_path)
    cal.record({"exact/dense": second}, tmp_path)
    known = cal.calibration(tmp_path).kinds["exact/dense"]
    assert known.fields() == pytest.approx([0.5 * x + y for x, y in zip(first.fields(), second.fields())])
    assert known.cells == 1.5


def test_another_machines_file_an_older_format_or_a_broken_one_is_no_correction(tmp_path):
    path = tmp_path / cal.CACHE_FILE
    path.write_text(json.dumps({"machine": "elsewhere", "format": cal.FORMAT, "kinds": {"exact/dense": [1.0] * 6}}))
    assert cal.calibration(tmp_path).kinds == {}
    path.write_text(json.dumps({"machine": machine_key(), "kinds": {"exact/dense": [1.0, 9.0, 1.0]}}))  # format 1
    assert cal.calibration(tmp_path).kinds == {}
    cal.record({"exact/dense": cells((2.0, 1.0, 3.0))}, tmp_path)  # replaces what it cannot read
    assert cal.calibration(tmp_path).kinds == {"exact/dense": cells((2.0, 1.0, 3.0))}
    for broken in (
        "{not json",
        '{"machine": 1}',
        json.dumps({"machine": machine_key(), "format": cal.FORMAT, "kinds": {"k": [1]}}),
    ):
        path.write_text(broken)
        assert cal.calibration(tmp_path).kinds == {}


def test_an_unwritable_cache_folder_is_no_error(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("")
    cal.record({"exact/dense": cells((1.0, 1.0, 2.0))}, blocked / "cache")  # its parent is a file
    assert cal.calibration(blocked / "cache").kinds == {}
