"""The floor of the engine's design on this machine: a cell's CPU work, part by part, packed perfectly on the cores.

    python -m benchmarks.floor [--reps 5]

A cached cell of the protocol keeps both cores busy (its CPU-seconds are about twice its wall
time), so it cannot finish sooner than its CPU work divided by the cores. This measures that work
in one process, in interleaved rounds (the matmul rate sampled before each, as benchmarks/engine.py
does), from cells the engine runs as it always does:
  - the protocol's cell on a cached graph, with MLflow logging and without callbacks;
  - a steps-heavy cell (2,000 iterations, evaluated at 0 and 2,000 only) and an evaluation-heavy
    one (200 iterations, evaluated after each): their CPU-seconds give one step's and one
    evaluation's CPU cost (two equations, two unknowns);
  - the steps-heavy cell again in a child process pinned to one core, where the chain of steps
    runs without hand-offs between TensorFlow's two inter-op threads.
The floor is (2,000 steps + 201 evaluations + MLflow's writing) / cores, with the step at the
cheaper of its two measurements, set against the arithmetic bound (benchmarks/bound.py) at the
run's best rate. Results are printed and merged into the JSON file's section 'floor'.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks.bound import BATCH, ITERATIONS, TEST_ROWS, arithmetic_bound, forward_flops_per_row, matmul_rates
from benchmarks.cells import DEFAULT_OUT, ROUND_MATMUL_REPS, SEED, Tracking, engine_cell, load_data, protocol_settings
from benchmarks.record import machine, merge_json, spread
from study.engine.records import chunks

EVAL_HEAVY_ITERATIONS = 200  # evaluated after every iteration: 201 evaluations, 200 steps
CORES = 2  # the project's machine; the floor divides the CPU work by this


def cell_settings(iterations: int, eval_every: int):
    """The protocol's cell (sigmoid/xavier, no diagnostics) with its iteration count and eval period changed."""
    settings = protocol_settings("sigmoid", "xavier", ITERATIONS, 0, None)
    train = settings.train.model_copy(update={"iterations": iterations, "eval_every": eval_every})
    return settings.model_copy(update={"train": train})


def counts(settings) -> tuple[int, int]:
    """(steps, evaluations) of a cell, from the engine's own schedule: the evaluation at 0, then one per period."""
    train = settings.train
    schedule = list(chunks(train.iterations, train.eval_every, train.steps_per_call))
    return sum(n * length for _, n, length in schedule), 1 + sum(n for _, n, _ in schedule)


CELLS = {
    "protocol": cell_settings(ITERATIONS, 10),
    "steps_heavy": cell_settings(ITERATIONS, ITERATIONS),
    "eval_heavy": cell_settings(EVAL_HEAVY_ITERATIONS, 1),
}


def per_step_and_eval(steps_cpu: float, evals_cpu: float) -> tuple[float, float]:
    """One step's and one evaluation's CPU-seconds, from two cells that weigh them differently."""
    rows = [counts(CELLS["steps_heavy"]), counts(CELLS["eval_heavy"])]
    step, evaluation = np.linalg.solve(np.array(rows, float), np.array([steps_cpu, evals_cpu]))
    return float(step), float(evaluation)


def measure(reps: int, data) -> dict:
    """Warm every cell's graph, then `reps` rounds of: a rate sample, and each cell once (interleaved)."""
    tracking = Tracking()
    samples = [matmul_rates(ROUND_MATMUL_REPS)]
    runs: dict[str, list[dict]] = {"logged": [], "bare": [], "steps_heavy": [], "eval_heavy": []}
    try:
        for settings in CELLS.values():
            engine_cell(settings, data, None, new_graph=False)  # traced once, untimed
        engine_cell(CELLS["protocol"], data, tracking, new_graph=False)  # MLflow's first writes, untimed
        for _ in range(reps):
            samples.append(matmul_rates(ROUND_MATMUL_REPS))
            runs["logged"].append(engine_cell(CELLS["protocol"], data, tracking, new_graph=False))
            runs["bare"].append(engine_cell(CELLS["protocol"], data, None, new_graph=False))
            runs["steps_heavy"].append(engine_cell(CELLS["steps_heavy"], data, None, new_graph=False))
            runs["eval_heavy"].append(engine_cell(CELLS["eval_heavy"], data, None, new_graph=False))
    finally:
        tracking.close()
    out = {
        name: {"seconds": spread([r["seconds"] for r in rows]), "cpu_seconds": spread([r["cpu_seconds"] for r in rows])}
        for name, rows in runs.items()
    }
    out["bound"] = arithmetic_bound(ITERATIONS, samples)
    return out


def one_core_steps(reps: int) -> dict:
    """The steps-heavy cell's wall seconds in a child process pinned to one core (before TensorFlow starts)."""
    command = [sys.executable, "-m", "benchmarks.floor", "--child-one-core", "--reps", str(reps)]
    done = subprocess.run(
        command,
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def child_one_core(reps: int) -> None:
    """In the pinned child: warm the steps-heavy cell, time it `reps` times, print the spread as JSON."""
    data = load_data()
    settings = CELLS["steps_heavy"]
    engine_cell(settings, data, None, new_graph=False)
    seconds = [engine_cell(settings, data, None, new_graph=False)["seconds"] for _ in range(reps)]
    print(json.dumps(spread(seconds)))


def floor_of(m: dict, one_core: dict) -> dict:
    """The floor from the medians: per-step and per-evaluation CPU, MLflow's writing, and the ratios."""
    med = {name: m[name]["cpu_seconds"]["median"] for name in ("logged", "bare", "steps_heavy", "eval_heavy")}
    step, evaluation = per_step_and_eval(med["steps_heavy"], med["eval_heavy"])
    steps, evals = counts(CELLS["protocol"])
    heavy_steps, heavy_evals = counts(CELLS["steps_heavy"])
    step_one_core = (one_core["median"] - heavy_evals * evaluation) / heavy_steps
    writing = med["logged"] - med["bare"]
    added = max(writing, 0.0)  # a negative difference of medians is noise: no writing is added then
    best_step = min(step, step_one_core)
    without_mlflow = (steps * best_step + evals * evaluation) / CORES
    floor = without_mlflow + added / CORES
    # the same from the protocol cell's own CPU-seconds, less what its steps spend beyond the cheaper step cost
    measured = (med["bare"] - steps * (step - best_step) + added) / CORES
    bound = m["bound"]["seconds"]
    logged = m["logged"]["seconds"]["median"]
    eval_flops = (TEST_ROWS + BATCH) * forward_flops_per_row()
    return {
        "step_cpu_seconds": step,
        "step_one_core_seconds": step_one_core,
        "evaluation_cpu_seconds": evaluation,
        "evaluation_gflops_per_thread": eval_flops / evaluation / 1e9,
        "mlflow_writing_cpu_seconds": writing,
        "protocol_cpu_modelled": steps * step + evals * evaluation,
        "protocol_cpu_measured": med["bare"],
        "floor_seconds": floor,
        "floor_without_mlflow_seconds": without_mlflow,
        "floor_over_bound": floor / bound,
        "floor_without_mlflow_over_bound": without_mlflow / bound,
        "floor_from_measured_cpu_seconds": measured,
        "floor_from_measured_cpu_over_bound": measured / bound,
        "logged_over_bound": logged / bound,
        "logged_over_floor": logged / floor,
    }


def show(r: dict) -> None:
    """The printed report."""
    m, f, b = r["measured"], r["floor"], r["measured"]["bound"]
    print("engine floor: MNIST protocol cell (dense 784-40-20-10 sigmoid/xavier, SGD 0.1, batch 100, 2000 iterations,")
    print(
        f"  test set every 10), cached graph; {r['reps']} interleaved rounds; {r['machine_before']['when']}, "
        f"load {' '.join(f'{x:.2f}' for x in r['machine_before']['load_average'])} before, "
        f"{' '.join(f'{x:.2f}' for x in r['machine_after']['load_average'])} after\n"
    )
    print(f"{'cell (medians)':<52}{'wall s':>8}{'CPU s':>8}")
    names = {
        "logged": "protocol, + MLflow",
        "bare": "protocol, no callbacks",
        "steps_heavy": "steps-heavy (2000 steps, 2 evaluations)",
        "eval_heavy": f"evaluation-heavy ({EVAL_HEAVY_ITERATIONS} steps, 201 evaluations)",
    }
    for key, label in names.items():
        print(f"  {label:<50}{m[key]['seconds']['median']:8.3f}{m[key]['cpu_seconds']['median']:8.2f}")
    print(f"  {'steps-heavy, pinned to one core (child process)':<50}{r['one_core']['median']:8.3f}")
    print(
        f"\none step: {1e3 * f['step_cpu_seconds']:.3f} ms CPU on two cores, {1e3 * f['step_one_core_seconds']:.3f} ms "
        f"on one core; one evaluation: {1e3 * f['evaluation_cpu_seconds']:.2f} ms CPU "
        f"({f['evaluation_gflops_per_thread']:.1f} GFLOP/s a thread; tf.matmul, one intra-op thread: "
        f"{b['rates_gflops']['tf_dominant']:.1f}, best of the run)"
    )
    print(
        f"MLflow's writing: {f['mlflow_writing_cpu_seconds']:.2f} CPU-s a cell (logged - bare, medians); "
        f"protocol cell CPU modelled {f['protocol_cpu_modelled']:.2f} s, measured {f['protocol_cpu_measured']:.2f} s"
    )
    print(f"bound {b['seconds']:.3f} s ({b['rate_used_gflops']:.1f} GFLOP/s, the run's best on the dominant shape)")
    print(
        f"floor {f['floor_seconds']:.3f} s = {f['floor_over_bound']:.2f} x the bound "
        f"(without MLflow {f['floor_without_mlflow_seconds']:.3f} s = {f['floor_without_mlflow_over_bound']:.2f} x)"
    )
    print(
        f"floor from the protocol cell's own CPU-seconds (its steps at the cheaper cost): "
        f"{f['floor_from_measured_cpu_seconds']:.3f} s = {f['floor_from_measured_cpu_over_bound']:.2f} x the bound"
    )
    print(
        f"measured cell + MLflow {m['logged']['seconds']['median']:.3f} s = {f['logged_over_bound']:.2f} x the bound, "
        f"{f['logged_over_floor']:.2f} x the floor"
    )


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.floor", description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=5, help="interleaved rounds (default 5)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON file (default benchmarks/results/engine.json)")
    p.add_argument("--child-one-core", action="store_true", help=argparse.SUPPRESS)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.child_one_core:
        child_one_core(args.reps)
        return 0
    before = machine()
    measured = measure(args.reps, load_data())
    one_core = one_core_steps(args.reps)
    result = {"reps": args.reps, "seed": SEED, "machine_before": before, "measured": measured, "one_core": one_core}
    result["machine_after"] = machine()
    result["floor"] = floor_of(measured, one_core)
    show(result)
    merge_json(Path(args.out), "floor", result)
    print(f"\nwrote section 'floor' of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
