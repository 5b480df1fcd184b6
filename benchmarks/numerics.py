"""What `train.numerics: exact` costs against `fast`, and whether `fast` changes the numbers.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.numerics [--reps 3] [--threads N] [--quick]

For each mode, one fresh process (thread pools are fixed per process) trains the same cells:
a vanishing-gradient cell (relu · he, 784-40-20-10, the whole protocol) and the course's three
convnets from configs/cnn.yaml, each with its own protocol (1,000 / 100 / 1,000 iterations; the
study's grid sets them). --quick trains only the VG cell and the double net, once each. Each cell is trained once
untimed (graph tracing) and then --reps times; the table prints the median [min–max] seconds of
each mode side by side, the fast / exact ratio, and whether the two modes' final test accuracy and
loss agree bit for bit. Both modes run in the same invocation, one after the other, so they see
the same machine; the load average before and after is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# One worker process: train the cells with the given numerics and print JSON timings.
WORKER = """
import json, sys, time
from study.engine.backend import configure
from study.store.contract import numerics_tags
numerics = configure(sys.argv[1], int(sys.argv[2]))
from study.check.validated_study import load_study
from study.plan.grid import expand
from study.execution.cell import cell_data
from study.engine.training_loop import train_and_evaluate
reps, quick = int(sys.argv[3]), sys.argv[4] == "quick"
studies = [("configs/vanishing_gradient.yaml", ["grid.model.activation=[relu]", "grid.model.initializer=[he]"]),
           ("configs/cnn.yaml", [])]
out = {"tags": numerics_tags(numerics.settings()), "cells": {}}
for path, overrides in studies:
    for cell in expand(load_study(path, overrides)):
        if quick and cell.group not in ("relu · he", "double"):
            continue
        data = cell_data(cell)
        train_and_evaluate(cell.settings, cell.seed, data)  # traces the graph: not timed
        seconds, summary = [], None
        for _ in range(reps):
            t0 = time.perf_counter()
            summary = train_and_evaluate(cell.settings, cell.seed, data)
            seconds.append(time.perf_counter() - t0)
        out["cells"][cell.name] = {"seconds": seconds, "test_acc": summary.final_test_acc,
                                   "test_loss": summary.final_test_loss}
print(json.dumps(out))
"""


def run_mode(mode: str, threads: int, reps: int, quick: bool) -> dict:
    """The worker's JSON for one mode, from a fresh interpreter."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", WORKER, mode, str(threads), str(reps), "quick" if quick else "full"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"the {mode} worker failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def fmt(seconds: list[float]) -> str:
    return f"{statistics.median(seconds):6.2f} [{min(seconds):.2f}–{max(seconds):.2f}]"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="timed runs per cell and mode (default 3)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="thread budget (default: all CPUs)")
    parser.add_argument("--quick", action="store_true", help="1 rep of two cells: checks the harness")
    args = parser.parse_args(argv)
    if args.quick:
        args.reps = 1
    load_before = os.getloadavg()
    results = {mode: run_mode(mode, args.threads, args.reps, args.quick) for mode in ("exact", "fast")}
    load_after = os.getloadavg()
    exact, fast = results["exact"], results["fast"]
    print(
        f"numerics benchmark: {args.threads} thread(s), {args.reps} timed rep(s) per cell"
        f"{' (quick: two cells)' if args.quick else ''}; "
        f"load average {load_before[0]:.2f} before, {load_after[0]:.2f} after"
    )
    print(f"cpu: {exact['tags']['study.numerics.cpu']}; oneDNN {exact['tags']['study.numerics.onednn']}")
    print(
        f"exact: intra-op {exact['tags']['study.numerics.intra_op_threads']}, "
        f"inter-op {exact['tags']['study.numerics.inter_op_threads']};  "
        f"fast: intra-op {fast['tags']['study.numerics.intra_op_threads']}, "
        f"inter-op {fast['tags']['study.numerics.inter_op_threads']}"
    )
    width = max(len(name) for name in exact["cells"])
    print(f"{'cell':<{width}}  {'exact s (median [min-max])':>26}  {'fast s':>22}  {'fast/exact':>10}  same numbers")
    for name, e in exact["cells"].items():
        f = fast["cells"][name]
        ratio = statistics.median(f["seconds"]) / statistics.median(e["seconds"])
        same = e["test_acc"] == f["test_acc"] and e["test_loss"] == f["test_loss"]
        detail = "yes" if same else f"no: test acc {e['test_acc']:.4f} vs {f['test_acc']:.4f}"
        print(f"{name:<{width}}  {fmt(e['seconds']):>26}  {fmt(f['seconds']):>22}  {ratio:10.2f}  {detail}")


if __name__ == "__main__":
    main()
