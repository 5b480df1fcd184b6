"""A/B of the engine's speed on the vanishing-gradient study: two source trees, interleaved in one run.

    python -m benchmarks.engine_ab --a /path/to/tree_a --b /path/to/tree_b [--rounds 4] [--cells 6]

Each round starts one process per tree, in alternating order (A B, then B A, …), so a machine
shared with other work loads both alike. A process imports *its* tree's `study`, trains an untimed
warm-up cell (TensorFlow start-up, first traces), then the first `--cells` cells of that tree's
configs/vanishing_gradient.yaml, timing each `train_and_evaluate` call (no MLflow: the engine
alone). Printed: per tree, min and median seconds per cell over every round, their ratio B/A, and
the 1-minute load average before each process. Data: $STUDY_DATA_DIR.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

CHILD = r"""
import json, sys, time
from study.check.validated_study import load_study
from study.plan.grid import expand
from study.execution.cell import cell_data
from study.engine.training_loop import train_and_evaluate
cells = expand(load_study(sys.argv[1]))
warm = cells[0]
short = warm.settings.train.model_copy(update={"iterations": 20})
train_and_evaluate(warm.settings.model_copy(update={"train": short}), warm.seed, cell_data(warm))
out = []
for cell in cells[: int(sys.argv[2])]:
    t0 = time.perf_counter()
    summary = train_and_evaluate(cell.settings, cell.seed, cell_data(cell))
    out.append({"cell": cell.name, "seconds": time.perf_counter() - t0, "final_test_acc": summary.final_test_acc})
print("RESULT " + json.dumps(out))
"""


def run_tree(tree: str, cells: int) -> list[dict]:
    """One process of `tree` training the first `cells` cells; their timings."""
    env = {**os.environ, "PYTHONPATH": tree}
    config = os.path.join(tree, "configs", "vanishing_gradient.yaml")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, config, str(cells)], env=env, cwd=tree, capture_output=True, text=True
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"{tree}: exit {out.returncode}\n{out.stderr[-2000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="source tree A (the baseline)")
    parser.add_argument("--b", required=True, help="source tree B")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--cells", type=int, default=6)
    args = parser.parse_args(argv)
    times: dict[str, list[float]] = {"A": [], "B": []}
    accuracy: dict[str, dict[str, float]] = {"A": {}, "B": {}}
    for r in range(args.rounds):
        for label in ("A", "B") if r % 2 == 0 else ("B", "A"):
            load = os.getloadavg()[0]
            results = run_tree(getattr(args, label.lower()), args.cells)
            times[label] += [x["seconds"] for x in results]
            accuracy[label].update({x["cell"]: x["final_test_acc"] for x in results})
            per_cell = " ".join(f"{x['seconds']:.2f}" for x in results)
            print(f"round {r + 1} {label}: load {load:.1f}; seconds per cell: {per_cell}", flush=True)
    a_min, b_min = min(times["A"]), min(times["B"])
    a_med, b_med = statistics.median(times["A"]), statistics.median(times["B"])
    print(f"A {args.a}: min {a_min:.2f} s, median {a_med:.2f} s per cell ({len(times['A'])} cells)")
    print(f"B {args.b}: min {b_min:.2f} s, median {b_med:.2f} s per cell ({len(times['B'])} cells)")
    print(f"B/A: min {b_min / a_min:.3f}, median {b_med / a_med:.3f}")
    same = accuracy["A"] == accuracy["B"]
    print(f"final test accuracies identical in A and B: {same}")
    if not same:
        for cell in accuracy["A"]:
            print(f"  {cell}: A {accuracy['A'][cell]} B {accuracy['B'].get(cell)}")


if __name__ == "__main__":
    main()
