"""What one cell waits for before it trains, part by part: the data load, the engine build, the trace
of its chunk graph and the first graph call, each in a fresh process, for this checkout and
(`--baseline DIR`) another one, interleaved run by run.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.startup [--reps 3] [--baseline DIR]

The cell is the vanishing-gradient study's first (sigmoid, gauss(0.01)). Seconds are wall-clock time
measured inside the process (`time.perf_counter`), after TensorFlow is imported and configured.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

from benchmarks.phases import load

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "vanishing_gradient.yaml"
PARTS = ("data load", "engine build", "trace", "first graph call")

CHILD = """
import json, sys, time
from study.engine.backend import ensure, tf
ensure("exact")
from study.data.loading import load
from study.engine.training_loop import Engine
from study.plan.grid import expand
from study.check.validated_study import load_study
cell = expand(load_study(sys.argv[1], []))[0]
t0 = time.perf_counter(); data = load(cell.settings.data)
t1 = time.perf_counter(); engine = Engine(cell.settings, data); engine.reset(cell.settings, cell.seed)
t2 = time.perf_counter(); engine.run_chunk.get_concrete_function(tf.constant(0), tf.constant(1), tf.constant(0))
t3 = time.perf_counter(); engine.chunk(0, 1, 0, False)
t4 = time.perf_counter()
print(json.dumps([t1 - t0, t2 - t1, t3 - t2, t4 - t3]))
"""


def once(tree: Path) -> list[float]:
    """The four parts' seconds in a fresh process importing the package from `tree`."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(CONFIG)], cwd=tree, env=env, capture_output=True, text=True, check=True
    )  # run in `tree`: `python -c` puts the current folder first on the path
    return json.loads(out.stdout.strip().splitlines()[-1])


def line(name: str, runs: list[list[float]]) -> str:
    cols = []
    for k in range(len(PARTS)):
        values = [r[k] for r in runs]
        cols.append(f"{statistics.median(values):5.2f} [{min(values):.2f}–{max(values):.2f}]")
    return f"{name:<10}" + "".join(f"  {c:>20}" for c in cols)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--baseline", type=Path, help="another checkout (e.g. `git archive <commit>` unpacked)")
    a = p.parse_args(argv)
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")
    trees = {"this": ROOT, **({"baseline": a.baseline.resolve()} if a.baseline else {})}
    runs: dict[str, list[list[float]]] = {name: [] for name in trees}
    load_before = load()
    for _ in range(a.reps):
        for name, tree in trees.items():
            runs[name].append(once(tree))
    load_after = load()
    print(f"startup benchmark: {a.reps} interleaved rep(s); load average {load_before} before, {load_after} after")
    print("seconds, median [min–max]" + " " * 4 + "".join(f"  {part:>20}" for part in PARTS))
    for name in trees:
        print(line(name, runs[name]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
