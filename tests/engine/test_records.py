"""The chunk schedule (study/engine/records.py: Schedule): a fixed `train.steps_per_call`, and the automatic
one that sizes each graph call from the pace of the last. Plain Python: no TensorFlow."""

from __future__ import annotations

from study.engine.records import AUTO_STEPS_PER_CALL, CALL_SECONDS, MAX_GROWTH, Schedule


def covered(calls: list[tuple[int, int, int]]) -> list[int]:
    """Every iteration the calls run, in order."""
    return [i for start, periods, length in calls for i in range(start + 1, start + periods * length + 1)]


def test_a_fixed_steps_per_call_runs_whole_eval_periods_whatever_the_pace():
    schedule = Schedule(65, 10, 20)
    calls = []
    for call in schedule:
        calls.append(call)
        schedule.took(call[1], 100.0)  # slow: ignored
    assert calls == [(0, 2, 10), (20, 2, 10), (40, 2, 10), (60, 1, 5)]


def test_the_automatic_schedule_grows_to_calls_of_about_call_seconds_and_covers_every_iteration():
    schedule = Schedule(20_000, 10, None)
    calls = []
    for call in schedule:
        calls.append(call)
        schedule.took(call[1], call[1] * 0.001)  # 1 ms a period: CALL_SECONDS is 500 periods
    sizes = [periods for _, periods, _ in calls]
    first = AUTO_STEPS_PER_CALL // 10
    assert sizes[:2] == [first, first * MAX_GROWTH]  # growth is capped at MAX_GROWTH per call
    assert sizes[2:-1] == [int(CALL_SECONDS / 0.001)] * (len(sizes) - 3)
    assert covered(calls) == list(range(1, 20_001))


def test_a_slow_cell_gets_calls_of_one_eval_period():
    schedule = Schedule(100, 10, None)
    calls = []
    for call in schedule:
        calls.append(call)
        schedule.took(call[1], 60.0)  # a minute for the first call
    assert calls[0] == (0, 10, 10) and len(calls) == 1  # the first call was the whole cell
    schedule = Schedule(300, 10, None)
    calls = []
    for call in schedule:
        calls.append(call)
        schedule.took(call[1], 60.0)
    assert [periods for _, periods, _ in calls] == [10] + [1] * 20 and covered(calls) == list(range(1, 301))
