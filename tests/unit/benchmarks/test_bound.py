"""The arithmetic bound's FLOP count: the course's protocol counted by hand agrees with protocol_flops."""

from __future__ import annotations

import pytest

from benchmarks.bound import arithmetic_bound, protocol_flops


def test_flops_of_the_protocol():
    forward = 2 * (784 * 40 + 40 * 20 + 20 * 10)  # multiply-adds of one row through 784-40-20-10
    flops = protocol_flops(2000)
    assert flops["forward_per_row"] == forward == 64_720
    assert flops["eval_points"] == 201  # iterations 0, 10, ..., 2000
    assert flops["train"] == 2000 * 3 * 100 * forward
    assert flops["eval"] == 201 * (10_000 + 100) * forward
    assert flops["total"] == flops["train"] + flops["eval"]


def test_the_bound_takes_each_rates_best_sample():
    slow = {"tf_dominant": 50.0, "numpy_dominant": 100.0, "tf_square": 150.0, "numpy_square": 200.0}
    fast = {"tf_dominant": 120.0, "numpy_dominant": 80.0, "tf_square": 100.0, "numpy_square": 300.0}
    bound = arithmetic_bound(2000, [slow, fast])
    assert bound["rate_used_gflops"] == 120.0  # the better of tf and numpy on the dominant shape, over samples
    assert bound["seconds"] == pytest.approx(protocol_flops(2000)["total"] / 120e9)
    assert bound["seconds_at_peak"] == pytest.approx(protocol_flops(2000)["total"] / 300e9)
