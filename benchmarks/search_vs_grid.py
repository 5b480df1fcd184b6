"""Search versus the full grid on one study: configs/search_lr_depth.yaml run as its search (TPE, median
pruning) and as the equivalent grid (`--set search.sampler=grid`), each by `study run` in a fresh store.

Prints, side by side: the grid's best cell, how many trials (and how many cells trained) the search
needed to come within 0.5 points of it, the search's own best, and each run's wall time (process start
to exit) and summed cell training time, with the machine's load average before and after each run.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.search_vs_grid [--order grid-first] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parent.parent / "configs" / "search_lr_depth.yaml"
WITHIN = 0.005  # half a point of accuracy


def run(root: Path, *args: str) -> tuple[float, tuple[float, float]]:
    """`study run CONFIG ARGS --quiet` in `root`; (wall seconds, (1-min load before, after))."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlruns' / 'mlflow.db'}"}  # not the project's
    before = os.getloadavg()[0]
    t0 = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "study.cli", "run", str(CONFIG), "--quiet", *args],
        cwd=root,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0, (before, os.getloadavg()[0])  # (JSON keeps the pair as a list)


def cell_runs(root: Path, study: str) -> list:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name(study)
    return client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell'", max_results=1000)


def search_trials(root: Path) -> list:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--order", choices=("search-first", "grid-first"), default="search-first")
    ap.add_argument("--keep", default=None, help="keep the two stores (and timing.json) under this directory")
    ap.add_argument("--reuse-grid", action="store_true", help="with --keep: take the grid from an earlier run")
    ap.add_argument("--trials", type=int, default=None, help="the search's budget (default: the study's)")
    ap.add_argument("--search-set", action="append", default=[], metavar="KEY=VALUE", help="--set for the search")
    args = ap.parse_args()
    base = Path(args.keep or tempfile.mkdtemp(prefix="search_vs_grid-"))
    grid_root, search_root = base / "grid", base / "search"
    base.mkdir(parents=True, exist_ok=True)
    search_args = [a for kv in args.search_set for a in ("--set", kv)]
    if args.trials:
        search_args += ["--set", f"search.trials={args.trials}"]
    jobs = {
        "search": lambda: run(search_root, *search_args),
        "grid": lambda: run(grid_root, "--set", "search.sampler=grid", "--set", "study=search_lr_depth_grid"),
    }
    order = ["search", "grid"] if args.order == "search-first" else ["grid", "search"]
    saved = base / "timing.json"
    timing = json.loads(saved.read_text()) if saved.exists() else {}
    for name in order:
        if name == "grid" and args.reuse_grid and "grid" in timing:
            continue  # the grid's store and timing from an earlier run of this script
        shutil.rmtree(base / name, ignore_errors=True)
        (base / name).mkdir()
        timing[name] = jobs[name]()
    saved.write_text(json.dumps(timing))

    grid = [r for r in cell_runs(grid_root, "search_lr_depth_grid") if r.info.status == "FINISHED"]
    best = max(grid, key=lambda r: r.data.metrics["best_test_acc"])
    target = best.data.metrics["best_test_acc"]
    trials = search_trials(search_root)
    trained = {t.number: t for t in trials}
    runs = {r.info.run_id: r for r in cell_runs(search_root, "search_lr_depth")}
    first_close, cells_until = None, 0
    seen: set[str] = set()
    for t in sorted(trials, key=lambda t: t.number):
        run_id = t.user_attrs.get("study.runs", {}).get("0")
        if run_id and run_id not in seen and int(runs[run_id].data.tags.get("study.trial", -1)) == t.number:
            seen.add(run_id)
            cells_until += 1
        if t.state.name == "COMPLETE" and t.value >= target - WITHIN:
            first_close = t.number
            break
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    search_best = max(complete, key=lambda t: t.value)
    trained_cells = len(runs)
    pruned = sum(t.state.name == "PRUNED" for t in trials)

    def cell_seconds(rs) -> float:
        return sum(r.data.metrics.get("wall_time_s", 0.0) for r in rs)

    print(f"machine: {os.cpu_count()} CPUs; stores under {base}")
    print(f"{'':34}{'grid':>14}{'search':>14}")
    repeats = sum("study.repeat" in t.user_attrs for t in trials)
    counts = f"({len(trials)} trials: {pruned} pruned, {repeats} repeats)"
    print(f"{'cells trained':34}{len(grid):>14}{trained_cells:>14}   {counts}")
    print(f"{'best best_test_acc':34}{target:>14.4f}{search_best.value:>14.4f}")
    print(f"{'wall time, process start to exit':34}{timing['grid'][0]:>13.1f}s{timing['search'][0]:>13.1f}s")
    s_runs = list(runs.values())
    print(f"{'summed cell training time':34}{cell_seconds(grid):>13.1f}s{cell_seconds(s_runs):>13.1f}s")
    loads = {name: "{:.1f} -> {:.1f}".format(*timing[name][1]) for name in timing}
    print(f"{'1-min load before -> after':34}{loads['grid']:>14}{loads['search']:>14}")
    print(f"grid's best cell: {best.info.run_name}")
    print(f"search's best: trial {search_best.number} {search_best.params}")
    if first_close is None:
        print(f"the search never came within {WITHIN * 100:g} points of the grid's best")
    else:
        print(
            f"within {WITHIN * 100:g} points of the grid's best: trial {first_close} "
            f"({trained[first_close].value:.4f}), after {first_close + 1} trials and {cells_until} cells trained"
        )


if __name__ == "__main__":
    main()
