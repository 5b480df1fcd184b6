"""Per cell: our engine against the arithmetic bound, the course's NumPy loop and naive Keras, in one process.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.engine [--quick] [--skip-naive]

Protocol (the course's): MNIST 60,000/10,000 from $STUDY_DATA_DIR, dense 784-40-20-10, SGD lr 0.1,
batches of 100 drawn with replacement, 2,000 iterations, the full test set evaluated every 10
iterations. Prints the table and writes benchmarks/results/per_cell.json.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np

from benchmarks.bound import (
    BATCH,
    EVAL_EVERY,
    ITERATIONS,
    LAYERS,
    LEARNING_RATE,
    arithmetic_bound,
    dominant_rate,
    matmul_rates,
    seconds_at,
)
from benchmarks.cells import (
    DEFAULT_OUT,
    DEFAULT_REPS,
    ENGINE_VARIANTS,
    QUICK_ITERATIONS,
    QUICK_REPS,
    REPO,
    ROUND_MATMUL_REPS,
    WARMUP_ITERATIONS,
    load_data,
    measure_engine,
    measure_naive,
    measure_numpy,
    protocol_settings,
)
from benchmarks.record import check, fmt_load, machine, print_targets, results_header, spread, write_results

# --- the per-cell table ---------------------------------------------------------------------


def per_cell(args) -> dict:
    """Measure every row of the per-cell table and return them with the run sizes."""
    reps = QUICK_REPS if args.quick else DEFAULT_REPS
    reps = {
        **reps,
        **{
            k: v
            for k, v in (("engine", args.reps), ("numpy", args.numpy_reps), ("naive", args.naive_reps))
            if v is not None
        },
    }
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS
    before = machine()
    data = load_data()
    arrays = (data.x_train, data.y_train, data.x_test, data.y_test)
    settings = protocol_settings(args.activation, args.init, iterations, args.diagnostics_every, args.steps_per_call)
    result = {
        "machine_before": before,
        "quick": args.quick,
        "iterations": iterations,
        "activation": args.activation,
        "init": args.init,
        "diagnostics_every": args.diagnostics_every,
        "steps_per_call": args.steps_per_call,
        "reps": reps,
    }
    samples = [matmul_rates(reps["matmul"], args.quick)]
    result["engine"] = measure_engine(
        settings, data, reps["engine"], lambda: samples.append(matmul_rates(ROUND_MATMUL_REPS, args.quick))
    )
    result["bound"] = arithmetic_bound(iterations, samples)
    result["numpy"] = measure_numpy(arrays, args.activation, args.init, iterations, reps["numpy"], np.float64)
    if args.numpy_float32:
        result["numpy_float32"] = measure_numpy(
            arrays, args.activation, args.init, iterations, reps["numpy"], np.float32
        )
    if not args.skip_naive:
        result["naive"] = measure_naive(arrays, args.activation, iterations, reps["naive"])
    result["machine_after"] = machine()
    result["ratios"], result["targets"] = ratios_and_targets(result)
    return result


def ratios_and_targets(r: dict) -> tuple[dict, dict]:
    """Per engine variant: engine/bound, numpy/engine, naive/engine and logging share (medians), and the targets."""
    ratios, targets = {}, {}
    for variant in ENGINE_VARIANTS:
        e = r["engine"][variant]
        engine = e["seconds"]["median"]
        q = {
            "engine_over_bound": engine / r["bound"]["seconds"],
            "engine_over_bound_at_peak": engine / r["bound"]["seconds_at_peak"],
            "numpy_over_engine": r["numpy"]["seconds"]["median"] / engine,
            "logging_share": e["logging_share"]["median"],
            "engine_over_round_bound": round_ratios(e["seconds"]["values"], r),
        }
        if "naive" in r:
            q["naive_over_engine"] = r["naive"]["seconds"]["median"] / engine
        ratios[variant] = q
        keys = ["engine_over_bound", "numpy_over_engine", "naive_over_engine", "logging_share"]
        targets[variant] = [check(k, q[k]) for k in keys if k in q]
    cold = r["engine"]["new_graph"]["seconds"]["median"]
    ratios["logging_share_by_difference"] = (cold - r["engine"]["no_callbacks_seconds"]["median"]) / cold
    return ratios, targets


def round_ratios(seconds: list[float], r: dict) -> dict:
    """Each round's cell against the bound at the rate sampled just before that round (not a target:
    it shows how far the machine's speed moved during the run; the targets use the run's best rate)."""
    rounds = r["bound"]["samples"][1:]
    return spread([t / seconds_at(r["iterations"], rates) for t, rates in zip(seconds, rounds)])


def fmt_spread(s: dict) -> str:
    return f"{s['median']:9.3f}  {s['min']:8.3f} - {s['max']:<8.3f}{len(s['values']):4d}"


def print_per_cell(r: dict) -> None:
    """The table of mode 1."""
    b, e = r["bound"], r["engine"]
    print(
        f"\nengine benchmark: MNIST 60000/10000, dense {'-'.join(map(str, LAYERS))} {r['activation']}/{r['init']}, "
        f"SGD {LEARNING_RATE}, batch {BATCH} with replacement, {r['iterations']} iterations, "
        f"test set every {EVAL_EVERY}" + ("  [--quick: smoke run, not a measurement]" if r["quick"] else "")
    )
    print(
        f"machine: {r['machine_before']['cpus']} CPUs, load average {fmt_load(r['machine_before'])} before, "
        f"{fmt_load(r['machine_after'])} after"
    )
    print(f"\n{'seconds per cell':<42}{'median':>9}  {'min - max':^19}{'reps':>4}  test acc  cpu s")
    rows = [
        ("engine + MLflow, new graph (build+trace)", e["new_graph"], e["new_graph"]["final_test_acc"]),
        ("engine + MLflow, cached graph", e["cached_graph"], e["cached_graph"]["final_test_acc"]),
        (
            "in a trainer + MLflow, cached (cpu here)",
            e["trainer_cached_graph"],
            e["trainer_cached_graph"]["final_test_acc"],
        ),
        (
            "engine, new graph, no callbacks",
            {"seconds": e["no_callbacks_seconds"], "cpu_seconds": e["no_callbacks_cpu_seconds"]},
            None,
        ),
        ("NumPy course loop (float64)", r["numpy"], r["numpy"]["final_test_acc"]),
    ]
    if "numpy_float32" in r:
        rows.append(("NumPy course loop (float32)", r["numpy_float32"], r["numpy_float32"]["final_test_acc"]))
    if "naive" in r:
        rows.append(("naive Keras fit + MLflow callback", r["naive"], r["naive"]["final_test_acc"]))
    for label, m, acc in rows:
        cpu = f"{m['cpu_seconds']['median']:7.2f}" if "cpu_seconds" in m else ""
        print(f"  {label:<40}{fmt_spread(m['seconds'])}  {'' if acc is None else f'{acc:.4f}':<8}{cpu}")
    print(f"  {'arithmetic bound (dominant-shape rate)':<40}{b['seconds']:9.3f}")
    print(f"  {'arithmetic bound (peak rate)':<40}{b['seconds_at_peak']:9.3f}")
    rates = b["rates_gflops"]
    print(
        f"\nbound: {b['flops']['total'] / 1e9:.1f} GFLOP ({b['flops']['train'] / 1e9:.1f} training, "
        f"{b['flops']['eval'] / 1e9:.1f} in {b['flops']['eval_points']} evals) / {b['rate_used_gflops']:.1f} GFLOP/s"
    )
    per = spread([dominant_rate(s) for s in b["samples"]])
    print(
        f"float32 matmul GFLOP/s (best of {len(b['samples'])} samples, one before the engine rounds and one before "
        f"each): 10000x784@784x40 tf {rates['tf_dominant']:.1f}, numpy {rates['numpy_dominant']:.1f};  "
        f"2048^2 tf {rates['tf_square']:.1f}, numpy {rates['numpy_square']:.1f}"
    )
    print(
        f"dominant-shape rate per sample: median {per['median']:.1f} [{per['min']:.1f}-{per['max']:.1f}] GFLOP/s; "
        "engine / the bound at its own round's rate: "
        + ", ".join(
            f"{v.replace('_', ' ')} {fmt_ratio(r['ratios'][v]['engine_over_round_bound'])}" for v in ENGINE_VARIANTS
        )
    )
    for variant in ENGINE_VARIANTS:
        ph = e[variant]["phases_median"]
        print(
            f"engine phases, {variant.replace('_', ' ')} (median s): set-up {ph['setup']:.3f}, "
            f"first graph call {ph['first_call']:.3f}, first chunk {ph['first_chunk'] or 0:.3f}, "
            f"later chunks {ph['steady_chunk'] or 0:.3f} each x {max(ph['chunks_per_cell'] - 1, 0)}, "
            f"tail (summary + flush) {ph['tail']:.3f}"
        )
    print(
        f"warm-up cell ({WARMUP_ITERATIONS} iterations, untimed, first in the process): "
        f"{e['warmup_cell_seconds']:.2f} s"
    )
    q = r["ratios"]
    for variant in ENGINE_VARIANTS:
        print(
            f"logging, {variant.replace('_', ' ')}: {1000 * e[variant]['logging_seconds']['median']:.1f} ms on the "
            f"training thread + flush wait; engine / bound at peak rate {q[variant]['engine_over_bound_at_peak']:.2f} x"
        )
    print(
        f"engine new graph, logged - no callbacks = {100 * q['logging_share_by_difference']:+.1f} % of engine time "
        f"(difference of medians; includes the writer thread's CPU; noisy)"
    )
    print_targets(r["targets"]["new_graph"], r["targets"]["cached_graph"])
    print("\nthe same targets, the engine in a training process as `study run` trains (cached graph):")
    print_targets(r["targets"]["trainer_cached_graph"])


def fmt_ratio(s: dict) -> str:
    return f"{s['median']:.2f} x [{s['min']:.2f}-{s['max']:.2f}]"


# --- command line --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ITERATIONS} iterations, fewer reps")
    p.add_argument("--reps", type=int, default=None, help="engine cells per variant (default 5)")
    p.add_argument("--numpy-reps", type=int, default=None, help="NumPy cells (default 3)")
    p.add_argument("--naive-reps", type=int, default=None, help="naive Keras cells (default 2)")
    p.add_argument("--skip-naive", action="store_true", help="leave out naive Keras (~30-50 s a cell)")
    p.add_argument("--numpy-float32", action="store_true", help="also time the NumPy loop in float32")
    p.add_argument("--activation", default="sigmoid", help="activation of the timed cell (default sigmoid)")
    p.add_argument("--init", default="xavier", help="initializer of the timed cell (default xavier)")
    p.add_argument(
        "--diagnostics-every",
        type=int,
        default=0,
        help="engine's per-layer diagnostics period; 0 (default) = off, as the course's loop",
    )
    p.add_argument("--steps-per-call", type=int, default=None, help="engine chunk length (default: the engine's)")
    p.add_argument("--out", default=None, help=f"JSON file (default {DEFAULT_OUT.relative_to(REPO)})")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parser().parse_args(argv)
    result = per_cell(args)
    print_per_cell(result)
    figure = "seconds per cell of the course's protocol: engine, arithmetic bound, NumPy loop, naive Keras"
    doc = {**results_header(figure, "benchmarks.engine", argv), "per_cell": result}
    print(f"\nwrote {write_results('per_cell', doc, args.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
