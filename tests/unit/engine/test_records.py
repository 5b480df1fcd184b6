"""The engine's chunk schedule (study/engine/records.py `chunks`): it covers 1..iterations exactly, and
is generated as the cell trains, so the longest cell a study may ask for costs no memory up front."""

from __future__ import annotations

import itertools

from study.engine.records import chunks
from study.spec.train import MAX_ITERATIONS


def test_the_schedule_covers_every_iteration_once_in_order():
    schedule = list(chunks(1005, 10, 100))
    assert schedule[0] == (0, 10, 10) and schedule[-1] == (1000, 1, 5)
    starts = [start for start, _, _ in schedule]
    assert starts == sorted(starts) and sum(n * length for _, n, length in schedule) == 1005


def test_the_longest_allowed_cell_starts_at_once():
    first = list(itertools.islice(chunks(MAX_ITERATIONS, 1, 1), 3))  # a list would hold 10**8 tuples
    assert first == [(0, 1, 1), (1, 1, 1), (2, 1, 1)]
