"""benchmarks/floor.py's arithmetic: the cells' step and evaluation counts are the engine's own, and
the two-cell solve gives back the per-step and per-evaluation cost it was built from."""

from __future__ import annotations

import pytest

from benchmarks.floor import CELLS, counts, floor_of, per_step_and_eval
from study.engine.records import chunks


@pytest.mark.parametrize("name", sorted(CELLS))
def test_counts_match_the_engines_schedule(name):
    train = CELLS[name].train
    schedule = list(chunks(train.iterations, train.eval_every, train.steps_per_call))
    steps = sum(periods * period_len for _, periods, period_len in schedule)
    evaluations = 1 + sum(periods for _, periods, _ in schedule)  # the one at iteration 0, then each period's end
    assert counts(CELLS[name]) == (steps, evaluations) == (train.iterations, evaluations)


def test_the_solve_recovers_step_and_evaluation_costs():
    step, evaluation = 0.6e-3, 14e-3
    cpu = {name: counts(CELLS[name])[0] * step + counts(CELLS[name])[1] * evaluation for name in CELLS}
    assert per_step_and_eval(cpu["steps_heavy"], cpu["eval_heavy"]) == pytest.approx((step, evaluation))


def spread_of(value: float) -> dict:
    return {"median": value, "min": value, "max": value, "values": [value]}


def test_floor_is_the_cpu_work_over_two_cores_at_the_cheaper_step():
    step, evaluation, writing = 0.6e-3, 14e-3, 0.4
    cpu = {name: counts(CELLS[name])[0] * step + counts(CELLS[name])[1] * evaluation for name in CELLS}
    measured = {
        "steps_heavy": {"cpu_seconds": spread_of(cpu["steps_heavy"])},
        "eval_heavy": {"cpu_seconds": spread_of(cpu["eval_heavy"])},
        "bare": {"cpu_seconds": spread_of(cpu["protocol"])},
        "logged": {"cpu_seconds": spread_of(cpu["protocol"] + writing), "seconds": spread_of(2.5)},
        "bound": {"seconds": 2.0},
    }
    one_core_step = 0.5e-3
    one_core = spread_of(2000 * one_core_step + 2 * evaluation)  # the steps-heavy cell: 2000 steps, 2 evaluations
    f = floor_of(measured, one_core)
    assert f["step_one_core_seconds"] == pytest.approx(one_core_step)
    assert f["mlflow_writing_cpu_seconds"] == pytest.approx(writing)
    assert f["floor_seconds"] == pytest.approx((2000 * one_core_step + 201 * evaluation + writing) / 2)
    assert f["floor_over_bound"] == pytest.approx(f["floor_seconds"] / 2.0)
    assert f["logged_over_floor"] == pytest.approx(2.5 / f["floor_seconds"])
    # the protocol cell's own CPU, its steps brought down to the one-core cost: the same floor here
    assert f["floor_from_measured_cpu_seconds"] == pytest.approx(f["floor_seconds"])
