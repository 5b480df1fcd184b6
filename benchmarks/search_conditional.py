"""What a conditional search space buys: the same search sampled flat (every key in every trial) and derived
(a setting sampled only where it takes effect), for the same budget and sampler seeds.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.search_conditional [--trials 30] [--seeds 0 1 2]

The space: optimizer.name {sgd, momentum, adam} x optimizer.momentum {0.5, 0.9, 0.99} x optimizer.lr
{0.003, 0.03, 0.3} x model.dropout {0, 0.25, 0.5} x model.hidden {[], [32], [64, 64]}: 243 points flat,
105 that differ in effect (momentum acts only for the momentum optimizer, dropout only with hidden
layers). Each (mode, sampler seed) is one `study run` of a TPE search in a fresh temporary store, on
600 MNIST training and 300 test images, 60 iterations. Per run: the cells trained, how many of them are
distinct in effect (their runs' study.effective_hash), the best best_test_acc and the trial that reached
it. Results: benchmarks/results/search_conditional.json.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.record import machine, require_data_dir, results_header, write_results

ROOT = Path(__file__).resolve().parent.parent
STUDY = """\
study: conditional_bench
base:
  data: {name: mnist, train_size: 600, test_size: 300}
  model: {initializer: he}
  train: {iterations: 60, batch_size: 30, eval_every: 20, diagnostics_every: 0}
search:
  sampler: tpe
  trials: %(trials)d
  seed: %(seed)d
  conditional: %(conditional)s
  params:
    optimizer.name: {choice: [sgd, momentum, adam]}
    optimizer.momentum: {choice: [0.5, 0.9, 0.99]}
    optimizer.lr: {choice: [0.003, 0.03, 0.3]}
    model.dropout: {choice: [0.0, 0.25, 0.5]}
    model.hidden: {choice: [[], [32], [64, 64]]}
"""
MODES = {"flat": "false", "derived": "true"}


def run_search(mode: str, seed: int, trials: int) -> dict:
    """One `study run` of the search in a fresh temporary store; what it trained and the best it reached."""
    with tempfile.TemporaryDirectory(prefix="search-bench-") as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(STUDY % {"trials": trials, "seed": seed, "conditional": MODES[mode]}, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        env.pop("MLFLOW_TRACKING_URI", None)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "study.cli", "run", str(path), "--quiet"], cwd=tmp, env=env, check=True)
        wall = time.perf_counter() - t0
        return {"mode": mode, "sampler_seed": seed, "wall_s": round(wall, 1), **read_store(Path(tmp))}


def read_store(root: Path) -> dict:
    """The trained cells, how many differ in effect, and the best value with the first trial reaching it."""
    import optuna
    from mlflow.tracking import MlflowClient

    from study.store.contract import Tag

    client = MlflowClient(f"sqlite:///{root / 'mlruns' / 'mlflow.db'}")
    exp = client.get_experiment_by_name("conditional_bench")
    runs = client.search_runs([exp.experiment_id], f"tags.`{Tag.ROLE}` = 'cell'", max_results=10_000)
    storage = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()
    values = [(t.value, t.number) for t in trials if t.value is not None]
    best = max(v for v, _ in values)
    return {
        "trials_asked": len(trials),
        "cells_trained": len(runs),
        "distinct_in_effect": len({r.data.tags[Tag.EFFECTIVE_HASH] for r in runs}),
        "best_test_acc": best,
        "best_first_reached_at_trial": min(n for v, n in values if v == best),
    }


def table(rows: list[dict]) -> str:
    """The runs as a Markdown table, flat and derived side by side per sampler seed."""
    lines = [
        "| space | sampler seed | cells trained | distinct in effect | best best_test_acc | first at trial |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['mode']} | {r['sampler_seed']} | {r['cells_trained']} | {r['distinct_in_effect']} | "
            f"{r['best_test_acc']:.4f} | {r['best_first_reached_at_trial']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=30, help="the budget of each search")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="the sampler seeds")
    p.add_argument("--out", default=None, help="results file (default benchmarks/results/search_conditional.json)")
    a = p.parse_args(argv)
    require_data_dir()
    before = machine()["load_average"]
    rows = [run_search(mode, seed, a.trials) for seed in a.seeds for mode in MODES]
    doc = {
        **results_header(
            "distinct configurations and best value, flat vs derived conditional space",
            "benchmarks.search_conditional",
            argv if argv is not None else sys.argv[1:],
        ),
        "trials": a.trials,
        "space_points": {"flat": 243, "distinct_in_effect": 105},
        "load_average": {"before": before, "after": machine()["load_average"]},
        "runs": rows,
    }
    print(table(rows))
    print(f"results: {write_results('search_conditional', doc, a.out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
