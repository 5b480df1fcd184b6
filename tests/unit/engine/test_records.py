"""The engine's records (study/engine/records.py): the chunk schedule covers 1..iterations exactly and is
generated as the cell trains, so the longest cell a study may ask for costs no memory up front; every value
recorded (and so logged to MLflow) is its float32's shortest decimal, with no bit lost, and an accuracy the
exact count ratio it stands for."""

from __future__ import annotations

import itertools
from decimal import Decimal

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from study.engine.records import chunks, evals_of, shortest
from study.spec.task import CLASSIFICATION
from study.spec.train import MAX_ITERATIONS


def test_the_schedule_covers_every_iteration_once_in_order():
    schedule = list(chunks(1005, 10, 100))
    assert schedule[0] == (0, 10, 10) and schedule[-1] == (1000, 1, 5)
    starts = [start for start, _, _ in schedule]
    assert starts == sorted(starts) and sum(n * length for _, n, length in schedule) == 1005


def test_the_longest_allowed_cell_starts_at_once():
    first = list(itertools.islice(chunks(MAX_ITERATIONS, 1, 1), 3))  # a list would hold 10**8 tuples
    assert first == [(0, 1, 1), (1, 1, 1), (2, 1, 1)]


def significant_digits(text: str) -> int:
    """The significant digits of a decimal however it is written (9827582000000000.0 and 9.827582e+15: 7)."""
    return len(Decimal(text).normalize().as_tuple().digits)


@given(st.floats(width=32))
def test_a_recorded_value_is_the_shortest_decimal_of_its_float32_and_reads_back_bit_for_bit(value: float):
    single = np.float32(value)
    recorded = float(shortest(np.array([single]))[0])  # the float64 MLflow stores and the UI shows
    if np.isnan(single):
        assert np.isnan(recorded)
        return
    assert np.float32(recorded).tobytes() == single.tobytes()  # study verify compares these exactly
    assert significant_digits(repr(recorded)) <= significant_digits(str(single))  # 0.71, not 0.7100000381


@given(
    st.integers(1, 1_000_000).flatmap(lambda rows: st.tuples(st.just(rows), st.integers(0, rows))), st.integers(-3, 3)
)
def test_an_accuracy_is_recorded_as_its_exact_count_ratio(rows_and_count, ulps):
    """The graph's float32 quotient, a few ulp either side of correct / rows, is recorded as correct / rows:
    the MLflow UI shows test_acc 0.9542, not 0.95419997, and the count it stands for is kept exactly."""
    rows, count = rows_and_count
    quotient = np.float32(count) / np.float32(rows)
    for _ in range(abs(ulps)):
        quotient = np.nextafter(quotient, np.float32(np.sign(ulps) * np.inf), dtype=np.float32)
    evals = np.array([[0.25, quotient, 0.5]], np.float32)  # train_acc, test_acc, test_loss
    recorded = evals_of(CLASSIFICATION, shortest(evals), {"train": 7, "test": rows})
    assert recorded["test_acc"][0] == count / rows and recorded["train_acc"][0] == 2 / 7  # 0.25 of 7: 2 of 7
    assert recorded["test_loss"].dtype == np.float64  # not an accuracy: as the graph computed it
