"""The arithmetic bound of the course's protocol: its counted FLOPs over the machine's measured rate.

`benchmarks/engine.py` samples the rate before its first engine round and again before every round,
so the bound is the fastest the machine multiplied at any point of the run (the strictest bound), and
each round can also be set against the rate measured right beside it: on a shared machine the rate of
the hour moves by 2x, and a single sample taken at a slow moment would make any engine look close to it.
"""

from __future__ import annotations

import time

import numpy as np

# The protocol, as numbers (the FLOP count and the engine's settings both read these).
LAYERS = (784, 40, 20, 10)
BATCH, EVAL_EVERY, LEARNING_RATE, ITERATIONS, TEST_ROWS = 100, 10, 0.1, 2000, 10_000

# Matrix-multiply shapes for the rate: the workload's dominant product (the first layer on the
# whole test set, ~3/4 of all FLOPs) and a large square one (the machine's peak).
DOMINANT_SHAPE = (10_000, 784, 40)
SQUARE_SHAPE = (2048, 2048, 2048)


def forward_flops_per_row() -> int:
    """Multiply-adds of one forward pass of the dense net, counted as 2 FLOPs each (biases ignored)."""
    return 2 * sum(a * b for a, b in zip(LAYERS[:-1], LAYERS[1:]))


def protocol_flops(iterations: int) -> dict:
    """FLOPs of one cell: training steps (≈ 3 forward passes per batch) and eval points (test set + batch)."""
    fwd = forward_flops_per_row()
    evals = iterations // EVAL_EVERY + 1  # iterations 0, 10, ..., N
    train = iterations * 3 * BATCH * fwd
    evaluate = evals * (TEST_ROWS + BATCH) * fwd
    return {"forward_per_row": fwd, "eval_points": evals, "train": train, "eval": evaluate, "total": train + evaluate}


def best_seconds(fn, reps: int, inner: int) -> float:
    """Best per-call time of `fn` over `reps` timings of `inner` back-to-back calls (after one warm call)."""
    fn()
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        best = min(best, (time.perf_counter() - t0) / inner)
    return best


def matmul_rates(reps: int, quick: bool = False) -> dict:
    """Best single-precision GFLOP/s of tf.matmul and numpy on the dominant and the square shape."""
    from study.engine.backend import tf

    rng = np.random.default_rng(0)
    out = {}
    calls = (4, 1) if quick else (20, 2)  # back-to-back calls per timing: ~0.1 s and ~0.3 s on 2 cores
    for (name, (m, k, n)), inner in zip((("dominant", DOMINANT_SHAPE), ("square", SQUARE_SHAPE)), calls):
        a = rng.standard_normal((m, k), dtype=np.float32)
        b = rng.standard_normal((k, n), dtype=np.float32)
        ta, tb = tf.constant(a), tf.constant(b)
        flops = 2 * m * k * n
        # the lambdas run inside this iteration (best_seconds calls them at once): binding is intended
        out[f"tf_{name}"] = flops / best_seconds(lambda: tf.matmul(ta, tb).numpy(), reps, inner) / 1e9  # noqa: B023
        out[f"numpy_{name}"] = flops / best_seconds(lambda: a @ b, reps, inner) / 1e9  # noqa: B023
    return out


def dominant_rate(rates: dict) -> float:
    """The rate the bound uses: the better of TensorFlow and NumPy on the dominant product."""
    return max(rates["tf_dominant"], rates["numpy_dominant"])


def best_rates(samples: list[dict]) -> dict:
    """Each rate's best over all samples of a run: what the machine reached at its fastest moment."""
    return {key: max(s[key] for s in samples) for key in samples[0]}


def arithmetic_bound(iterations: int, samples: list[dict]) -> dict:
    """Seconds the counted FLOPs need at the dominant shape's best rate of the run (used) and at the peak rate."""
    flops = protocol_flops(iterations)
    rates = best_rates(samples)
    dominant = dominant_rate(rates)
    peak = max(rates.values())
    return {
        "flops": flops,
        "rates_gflops": rates,
        "rate_used_gflops": dominant,
        "rate_used": "best of tf.matmul / numpy on 10000x784 @ 784x40, the workload's dominant product, "
        "over every sample of the run",
        "peak_gflops": peak,
        "seconds": seconds_at(iterations, rates),
        "seconds_at_peak": flops["total"] / peak / 1e9,
        "samples": samples,
    }


def seconds_at(iterations: int, rates: dict) -> float:
    """The bound at one sample's dominant-shape rate (a round set against the rate measured beside it)."""
    return protocol_flops(iterations)["total"] / dominant_rate(rates) / 1e9
