"""What one cell waits for before it trains, part by part: the TensorFlow import, the data load, the
engine build, the trace of its chunk graph and the first graph call, each rep in a fresh process.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.startup [--reps 3]

The cell is the vanishing-gradient study's first (sigmoid, gauss(0.01)). Seconds are wall-clock time
measured inside the process (`time.perf_counter`). Results: benchmarks/results/startup.json.
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
from benchmarks.record import results_header, write_results

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "vanishing_gradient.yaml"
PARTS = ("TensorFlow import", "data load", "engine build", "trace", "first graph call")

CHILD = """
import json, sys, time
t = time.perf_counter()
from study.engine.backend import ensure, tf
ensure("exact")
from study.data.loading import load
from study.engine.training_loop import Engine
from study.plan.grid import expand
from study.check.validated_study import load_study
cell = expand(load_study(sys.argv[1], []))[0]
t0 = time.perf_counter(); data = load(cell.settings.data)
imported = t0 - t
t1 = time.perf_counter(); engine = Engine(cell.settings, data); engine.reset(cell.settings, cell.seed)
t2 = time.perf_counter(); engine.run_chunk.get_concrete_function(tf.constant(0), tf.constant(1), tf.constant(0))
t3 = time.perf_counter(); engine.chunk(0, 1, 0, False)
t4 = time.perf_counter()
print(json.dumps([imported, t1 - t0, t2 - t1, t3 - t2, t4 - t3]))
"""


def once() -> list[float]:
    """The parts' seconds in a fresh process importing this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(CONFIG)], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def spread_line(values: list[float]) -> str:
    return f"{statistics.median(values):5.2f} [{min(values):.2f}–{max(values):.2f}]"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/startup.json)")
    a = p.parse_args(argv)
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")
    load_before = load()
    runs = [once() for _ in range(a.reps)]
    load_after = load()
    print(f"startup benchmark: {a.reps} rep(s); load average {load_before} before, {load_after} after")
    print("seconds, median [min–max]")
    for k, part in enumerate(PARTS):
        print(f"  {part:<20}{spread_line([r[k] for r in runs])}")
    figure = "what a cell waits for before it trains, part by part, in a fresh process"
    doc = {**results_header(figure, "benchmarks.startup", argv), "load_before": load_before, "load_after": load_after}
    doc["parts"] = {part: [r[k] for r in runs] for k, part in enumerate(PARTS)}
    print(f"wrote {write_results('startup', doc, a.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
