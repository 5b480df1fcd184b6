"""What a `model.builder` costs per cell: the course's protocol (MNIST 60,000/10,000, 784-40-20-10 ReLU with
the course's He initialiser, SGD 0.1, batch 100, 2,000 iterations, the test set every 10) trained as the
study's own YAML stack and as the same architecture returned by a builder function (`dense_net` below).

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.own_model [--seeds 5] [--iterations 2000]

Each variant first trains one untimed cell (its graph traced), then the seeds alternate between the two
variants, each cell timed whole by `train_and_evaluate` (the cached engine's reset included: a builder's
model is built afresh at each seed for its initial weights). Each cell's cost is measured as the process's
CPU time (all its threads), which other processes on a busy machine disturb far less than the wall time,
also recorded. The figure is the ratio of the median per-cell CPU times, builder / stack; the target is at
most 1.05. Results: benchmarks/results/own_model.json.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

from benchmarks.bound import BATCH, EVAL_EVERY, LAYERS, LEARNING_RATE
from benchmarks.record import require_data_dir, results_header, spread, write_results

FIGURE = "per-cell cost of a model.builder against the same YAML stack"
TARGET = 1.05  # a builder's cell may cost at most 5 % more than the same stack's


def dense_net(args: dict, input_shape: tuple[int, ...], outputs: int):
    """The study's `hidden` net as a builder: Dense → ReLU per hidden size, Dense → softmax, the course's
    He initialiser (N(0, 2/fan_in), untruncated), zero biases."""
    import keras

    def he() -> keras.initializers.Initializer:
        return keras.initializers.VarianceScaling(2.0, "fan_in", "untruncated_normal")

    layers: list = [keras.Input(input_shape)]
    for units in args["hidden"]:
        layers += [keras.layers.Dense(units, kernel_initializer=he()), keras.layers.Activation("relu")]
    layers += [keras.layers.Dense(outputs, kernel_initializer=he()), keras.layers.Activation("softmax")]
    return keras.Sequential(layers)


def settings(variant: str, iterations: int):
    """The protocol's cell: `stack` (model.hidden) or `builder` (dense_net with the same sizes)."""
    from study.spec.settings import Settings

    hidden = list(LAYERS[1:-1])
    model = (
        {"hidden": hidden} if variant == "stack" else {"builder": f"{__file__}:dense_net", "args": {"hidden": hidden}}
    )
    return Settings.model_validate(
        {
            "data": {"name": "mnist"},
            "model": model,
            "optimizer": {"name": "sgd", "lr": LEARNING_RATE},
            "train": {
                "iterations": iterations,
                "batch_size": BATCH,
                "sampling": "with_replacement",
                "eval_every": EVAL_EVERY,
                "eval_train": "batch",
            },
        }
    )


def timed_cell(cfg, seed: int, data) -> tuple[float, float]:
    """(CPU seconds, wall seconds) to train one cell, engine reset included."""
    from study.engine.training_loop import train_and_evaluate

    c0, t0 = time.process_time(), time.perf_counter()
    train_and_evaluate(cfg, seed, data)
    return time.process_time() - c0, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="timed cells per variant")
    parser.add_argument("--iterations", type=int, default=2000)
    parser.add_argument("--out", default=None, help="results file (default benchmarks/results/own_model.json)")
    args = parser.parse_args(argv)
    require_data_dir()
    from study.data.loading import load

    load_before = list(os.getloadavg())
    variants = ("stack", "builder")
    cells = {v: settings(v, args.iterations) for v in variants}
    data = load(cells["stack"].data)
    for v in variants:  # untimed: the graph traced, TensorFlow warm
        timed_cell(cells[v], 1000, data)
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    wall: dict[str, list[float]] = {v: [] for v in variants}
    for seed in range(args.seeds):
        for v in variants if seed % 2 == 0 else reversed(variants):
            c, w = timed_cell(cells[v], seed, data)
            cpu[v].append(c)
            wall[v].append(w)
    ratio = statistics.median(cpu["builder"]) / statistics.median(cpu["stack"])
    doc = {
        **results_header(
            "per-cell cost of a model.builder against the same YAML stack",
            "benchmarks.own_model",
            sys.argv[1:] if argv is None else argv,
        ),
        "protocol": {"layers": list(LAYERS), "iterations": args.iterations, "eval_every": EVAL_EVERY, "batch": BATCH},
        "load_average": {"before": load_before, "after": list(os.getloadavg())},
        "cpu_seconds_per_cell": {v: spread(cpu[v]) for v in variants},
        "wall_seconds_per_cell": {v: spread(wall[v]) for v in variants},
        "builder_over_stack": ratio,
        "builder_over_stack_wall": statistics.median(wall["builder"]) / statistics.median(wall["stack"]),
        "target": {"limit": TARGET, "pass": ratio <= TARGET},
    }
    path = write_results("own_model", doc, args.out)
    for v in variants:
        c, w = doc["cpu_seconds_per_cell"][v], doc["wall_seconds_per_cell"][v]
        print(
            f"{v:<8} CPU median {c['median']:.3f} s per cell (min {c['min']:.3f}, max {c['max']:.3f}); "
            f"wall median {w['median']:.3f} s ({args.seeds} cells)"
        )
    print(f"builder / stack: {ratio:.3f} (target <= {TARGET}: {'PASS' if ratio <= TARGET else 'FAIL'}); {path}")
    return doc


if __name__ == "__main__":
    main()
