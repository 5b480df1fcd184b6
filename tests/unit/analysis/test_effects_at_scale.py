"""study.analysis.effects past a readable number of comparisons: an axis whose simple effects would number
more than MAX_SIMPLE_EFFECTS is compared overall and named in the table's attrs; below it nothing changes."""

from __future__ import annotations

from study.analysis import effects
from study.analysis.effects import OVERALL, level_effects, too_many_simple_effects
from study.store.reader import Axis
from tests.unit.analysis.test_effects import ACT, HID, per_run

VALUES = {("tanh", "[100, 50]"): [0.90, 0.91], ("tanh", "[40, 20]"): [0.80, 0.82]}
VALUES |= {("relu", "[100, 50]"): [0.95, 0.96], ("relu", "[40, 20]"): [0.70, 0.71]}


def test_an_axis_of_many_combinations_is_counted_past_the_limit():
    many = [Axis(f"a{i}", f"model.a{i}", tuple(str(v) for v in range(10))) for i in range(4)]
    # each axis: 45 pairs × 1,000 combinations of the other three = 45,000 > 2,000
    assert too_many_simple_effects(many, frozenset({"a0", "a2"})) == frozenset({"a0", "a2"})
    assert too_many_simple_effects([ACT, HID], frozenset({"activation", "hidden"})) == frozenset()


def test_past_the_limit_the_axis_is_compared_overall(monkeypatch):
    both = frozenset({"activation", "hidden"})
    within = level_effects(per_run(VALUES), [ACT, HID], simple=both)
    assert set(within["within"]) == {"hidden=[100, 50]", "hidden=[40, 20]", "activation=tanh", "activation=relu"}
    assert within.attrs["averaged"] == []
    monkeypatch.setattr(effects, "MAX_SIMPLE_EFFECTS", 1)  # each axis has 1 pair × 2 combinations
    overall = level_effects(per_run(VALUES), [ACT, HID], simple=both)
    assert list(overall["within"]) == [OVERALL, OVERALL] and overall.attrs["averaged"] == ["activation", "hidden"]
    assert overall.equals(level_effects(per_run(VALUES), [ACT, HID]))
