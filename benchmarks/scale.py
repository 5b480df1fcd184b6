"""What many tiny cells cost beyond their training, and how well `--dry-run` predicts a run's time.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.scale [--reps 1] [--before TREE]
        [--config benchmarks/scale_200.yaml] [--estimates configs/vanishing_gradient.yaml ...]

Each repetition runs `study run CONFIG --quiet` as a user runs it, in a fresh temporary project (a new
SQLite store), timed from process start to exit; with `--before TREE` (another checkout of the package,
e.g. `git archive <commit> | tar -x -C TREE`) the same study runs from that tree too, interleaved, so a
change in the machine's load hits both alike. The per-cell fixed cost is (the run's own wall time, from
its final table − the cells' summed training time, their `wall_time_s` in the store) / cells: what a
cell costs beyond its model's build, trace and training. Each `--estimates` study is then run once from
this checkout beside its `--dry-run` estimate, taken just before the run: the 200-cell study's before its
first run. Everything runs with a fresh cache folder (STUDY_CACHE_DIR), so the first study of each kind of
net is estimated as on a machine that has trained nothing yet, and each later one is corrected by how the
cells before it trained here (study/runtime/calibration.py); both estimates are recorded. A study named
twice is run twice. Results: benchmarks/results/scale.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.record import require_data_dir, results_header, write_results

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = "benchmarks/scale_200.yaml"
NOISE = "Validating input example against model signature"  # MLflow's line per packaged model


def run_once(config: str, tree: Path) -> dict:
    """`study run CONFIG --quiet` from `tree` in a fresh temporary project: its wall time from process start
    to exit, its own time (the final table's), the cells' summed `wall_time_s` and the fixed cost per cell."""
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        local = Path(tmp) / Path(config).name
        shutil.copyfile(ROOT / config, local)
        env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
        env["PYTHONPATH"] = str(tree)
        load = os.getloadavg()[0]
        t0 = time.perf_counter()
        cmd = [sys.executable, "-m", "study.cli", "run", str(local), "--quiet"]
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        inside = re.search(r"([\d.]+)s in all", proc.stdout)
        trained = cell_seconds(Path(tmp) / "mlruns" / "mlflow.db")
        size = sum(p.stat().st_size for p in (Path(tmp) / "mlruns").rglob("*") if p.is_file())
    own = float(inside.group(1)) if inside else wall
    return {
        "seconds": wall,
        "run_seconds": own,
        "cells": len(trained),
        "training_seconds": sum(trained),
        "fixed_per_cell": (own - sum(trained)) / max(len(trained), 1),
        "noise_lines": (proc.stdout + proc.stderr).count(NOISE),
        "store_bytes": size,
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def cell_seconds(db: Path) -> list[float]:
    """Every FINISHED cell run's `wall_time_s` (its build, trace and training) in a store."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{db}")
    out = []
    for exp in client.search_experiments():
        runs = client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell'", max_results=50_000)
        out += [r.data.metrics["wall_time_s"] for r in runs if "wall_time_s" in r.data.metrics]
    return out


def predicted(config: str, tree: Path) -> dict:
    """The dry run's estimate of the study (this checkout's `study.check.estimate`, after the speed probe of a
    first kind of net, as `study run --dry-run` makes it), and the same estimate before this machine's correction."""
    code = (
        "import json, sys; from study.check.validated_study import load_study; from study.check.dry_run import "
        "dry_run; from study.execution.kind_probe import probe_new_kinds; from study.runtime.rate import "
        "machine_rate; d = dry_run(load_study(sys.argv[1])); "
        "probe_new_kinds(d.cells, d.checked.data, machine_rate(remeasure=True)); e = d.estimate(); "
        "print(json.dumps({'seconds': e.seconds, 'uncorrected_seconds': e.uncorrected_s, "
        "'calibrated_on': e.calibrated_on, "
        "'store_bytes': e.store_bytes, 'rate': e.rate}))"
    )
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run([sys.executable, "-c", code, config], env=env, capture_output=True, text=True, check=True)
    import json

    return json.loads(out.stdout.strip().splitlines()[-1])


def beside_estimate(config: str, tree: Path, guess: dict | None = None, run: dict | None = None) -> dict:
    """A run of `config` (`run`, or a new one) beside its estimate (`guess`, or one made now, before the run):
    wall time and store size, both ways."""
    guess = guess or predicted(config, tree)
    run = run or run_once(config, tree)
    return {
        "config": config,
        "estimate_seconds": guess["seconds"],
        "seconds": run["seconds"],
        "error": guess["seconds"] / run["seconds"] - 1,
        "uncorrected_estimate_seconds": guess["uncorrected_seconds"],
        "uncorrected_error": guess["uncorrected_seconds"] / run["seconds"] - 1,
        "calibrated_on": guess["calibrated_on"],
        "estimate_store_bytes": guess["store_bytes"],
        "store_bytes": run["store_bytes"],
        "rate": guess["rate"],
        "load_before": run["load_before"],
        "load_after": run["load_after"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=DEFAULT_CONFIG, help="the study of many tiny cells (default: %(default)s)")
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--before", type=Path, help="another checkout of the package, run interleaved with this one")
    p.add_argument("--estimates", nargs="*", default=[], metavar="CONFIG", help="studies to run beside their estimate")
    p.add_argument("--out", help="results file (default benchmarks/results/scale.json)")
    a = p.parse_args(argv)
    require_data_dir()
    cache = tempfile.TemporaryDirectory(prefix="bench-scale-cache-")
    os.environ["STUDY_CACHE_DIR"] = cache.name  # this machine as new: nothing trained, the rate measured now
    trees = {"before": a.before, "after": ROOT} if a.before else {"after": ROOT}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    first_guess = predicted(a.config, ROOT)
    for rep in range(a.reps):
        for name, tree in trees.items():
            r = run_once(a.config, tree)
            runs[name].append(r)
            print(
                f"rep {rep + 1} {name}: {r['run_seconds']:.1f} s, cells' training {r['training_seconds']:.1f} s, "
                f"fixed {r['fixed_per_cell']:.3f} s/cell over {r['cells']} cells (load {r['load_before']:.1f})",
                flush=True,
            )
    estimates = []
    for k, config in enumerate([a.config, *a.estimates]):
        e = beside_estimate(config, ROOT, *((first_guess, runs["after"][0]) if k == 0 else ()))
        estimates.append(e)
        print(
            f"{config}: estimate {e['estimate_seconds']:.0f} s ({e['uncorrected_estimate_seconds']:.0f} s uncorrected,"
            f" {e['calibrated_on']} cells before it), actual {e['seconds']:.0f} s ({100 * e['error']:+.0f} %; "
            f"uncorrected {100 * e['uncorrected_error']:+.0f} %), store {e['estimate_store_bytes'] / 1e6:.1f} MB "
            f"estimated, {e['store_bytes'] / 1e6:.1f} MB (load {e['load_before']:.1f})",
            flush=True,
        )
    cache.cleanup()
    argv_used = sys.argv[1:] if argv is None else argv
    doc = {
        **results_header(
            "per-cell fixed cost of many tiny cells; dry-run estimate vs actual", "benchmarks.scale", argv_used
        )
    }
    doc.update(config=a.config, runs=runs, estimates=estimates)
    path = write_results("scale", doc, a.out)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
