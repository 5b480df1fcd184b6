"""How `study report` scales with the number of runs: wall time, peak memory and HTML size on synthetic
stores of 200 and 10,000 runs written through MLflow's own client.

    python -m benchmarks.report_scale [--runs 200 10000] [--reps 1] [--stores DIR] [--out FILE]

Each store holds one study run shaped as `study run` writes it (study/store/runs.py): a parent with its
`cells.json` manifest, and one FINISHED child per cell × seed carrying the same tags, every resolved
setting as a param (the cells come from the package's own grid expansion), and the metric histories of a
50-iteration cell: `train_loss` at every iteration, `train_acc` / `test_acc` / `test_loss` every 10,
the summaries, the system metrics and the per-layer diagnostics at the last iteration. Left out: the
cells' config.yaml and learning-curve PNG and the dataset inputs, which the report does not read, and a
kept model. Curves are synthetic: each cell learns towards an accuracy set by its settings, plus seed noise.

The store is written once per size into `--stores` (default: a temporary folder) and reused when it is
there. Each rep runs `study report` in a fresh process; its peak RSS is that process's `ru_maxrss`, its
CPU seconds (user + system) say what it cost where the machine is shared.
Results: benchmarks/results/report_scale.json.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from benchmarks.record import results_header, write_results

ROOT = Path(__file__).resolve().parent.parent
ITERATIONS, EVAL_EVERY = 50, 10
STUDIES = {  # runs -> the study file: 4 axes, the 200-run one is the 200-tiny-cell study
    200: """study: report_scale_200
description: 200 synthetic runs (4 activations x 5 learning rates x 5 widths x 2 seeds) for the report benchmark.
base:
  data: {name: mnist, train_size: 1000, test_size: 1000}
  optimizer: {name: sgd}
  train: {iterations: 50, batch_size: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu, tanh, elu]
  optimizer.lr: [0.01, 0.03, 0.1, 0.3, 1.0]
  model.hidden: [[8], [16], [32], [16, 8], [32, 16]]
seeds: 2
""",
    10_000: """study: report_scale_10000
description: 10,000 synthetic runs (5 activations x 10 learning rates x 10 widths x 10 batch sizes x 2 seeds).
base:
  data: {name: mnist, train_size: 1000, test_size: 1000}
  optimizer: {name: sgd}
  train: {iterations: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu, tanh, elu, selu]
  optimizer.lr: [0.001, 0.003, 0.01, 0.02, 0.03, 0.06, 0.1, 0.3, 0.6, 1.0]
  model.hidden: [[8], [16], [32], [64], [128], [16, 8], [32, 16], [64, 32], [128, 64], [32, 16, 8]]
  train.batch_size: [8, 16, 24, 32, 48, 64, 96, 128, 192, 256]
seeds: 2
""",
}
SYSTEM_METRICS = (
    "cpu_utilization_percentage",
    "disk_available_megabytes",
    "disk_usage_megabytes",
    "disk_usage_percentage",
    "network_receive_megabytes",
    "network_transmit_megabytes",
    "system_memory_usage_megabytes",
    "system_memory_usage_percentage",
)


def study_cells(n_runs: int, folder: Path) -> tuple[str, list]:
    """The study's name and its cells, expanded by the package itself from STUDIES[n_runs]."""
    from study.check.validated_study import load_study
    from study.plan.grid import expand

    path = folder / f"report_scale_{n_runs}.yaml"
    path.write_text(STUDIES[n_runs])
    study = load_study(path)
    return study.spec.study, expand(study)


def final_accuracy(cell, rng: np.random.Generator) -> float:
    """Where a synthetic cell's test accuracy ends: best at lr 0.1 with relu-like units, near chance when
    sigmoid meets a small learning rate, higher with width; seed noise of about 0.01."""
    s = cell.settings
    lr_fit = math.exp(-((math.log10(s.optimizer.lr) + 1) ** 2))
    width = sum(s.model.hidden or [16])
    act = {"sigmoid": 0.55, "tanh": 0.85, "relu": 0.95, "elu": 0.93, "selu": 0.9}[s.model.activation]
    acc = 0.1 + 0.8 * lr_fit * act * (1 - math.exp(-width / 24))
    return float(np.clip(acc + rng.normal(0, 0.01), 0.05, 0.99))


def cell_metrics(cell, rng: np.random.Generator, now_ms: int) -> list:
    """The metric points a 50-iteration cell logs: histories, summaries, system metrics, diagnostics."""
    from mlflow.entities import Metric

    final = final_accuracy(cell, rng)
    steps = np.arange(0, ITERATIONS + 1, EVAL_EVERY)
    test = 0.1 + (final - 0.1) * (1 - np.exp(-steps / 15)) + rng.normal(0, 0.005, len(steps))
    test = np.round(np.clip(test, 0, 1) * 1000) / 1000  # a count over 1,000 test images
    train = np.round(np.clip(test + 0.02 * steps / ITERATIONS, 0, 1) * 1000) / 1000
    points = [
        Metric("train_loss", _loss_at(0.1 + (final - 0.1) * (1 - math.exp(-i / 15))), now_ms, i)
        for i in range(1, ITERATIONS + 1)
    ]
    for step, a, t in zip(steps, test, train):
        points += [
            Metric("test_acc", float(a), now_ms, int(step)),
            Metric("test_loss", _loss_at(a), now_ms, int(step)),
            Metric("train_acc", float(t), now_ms, int(step)),
        ]
    summaries = {
        "final_test_acc": float(test[-1]),
        "best_test_acc": float(test.max()),
        "final_train_acc": float(train[-1]),
        "final_test_loss": _loss_at(test[-1]),
        "wall_time_s": float(rng.uniform(0.02, 0.06)),
    }
    points += [Metric(k, v, now_ms, ITERATIONS) for k, v in summaries.items()]
    points += [Metric(f"system/{k}", float(rng.uniform(1, 100)), now_ms, 0) for k in SYSTEM_METRICS]
    n_dense = len(cell.settings.model.hidden) + 1
    for d in range(1, n_dense + 1):
        scale = 10.0 ** (-(n_dense - d) * (2 if cell.settings.model.activation == "sigmoid" else 0.3))
        for stat, value in (
            ("grad_norm", scale),
            ("grad_norm_bias", scale / 3),
            ("weight_norm", 2.0),
            ("update_ratio", 1e-3),
        ):
            points.append(Metric(f"{stat}/dense_{d}", float(value * rng.uniform(0.8, 1.2)), now_ms, ITERATIONS))
    for a in range(1, n_dense):
        for stat in ("act_mean", "act_std", "act_dead", "act_saturated"):
            points.append(Metric(f"{stat}/act_{a}", float(rng.uniform(0, 0.5)), now_ms, ITERATIONS))
    return points


def _loss_at(accuracy: float) -> float:
    """A cross-entropy loss that falls as the accuracy rises."""
    return float(-math.log(max(accuracy, 1e-3)) + 0.05)


def cell_tags(cell, parent_id: str, study_name: str, axes: list[str]) -> dict[str, str]:
    """The tags `Store.start_cell` and the cell's end give a cell run."""
    from study.store.contract import ROLE_CELL, Tag
    from study.store.provenance import common_tags

    activations = {f"act_{i + 1}": cell.settings.model.activation for i in range(len(cell.settings.model.hidden))}
    return {
        Tag.PARENT_RUN: parent_id,
        Tag.ROLE: ROLE_CELL,
        Tag.NAME: study_name,
        Tag.CELL: cell.group,
        Tag.CONFIG_HASH: cell.config_hash,
        Tag.SEED: str(cell.seed),
        Tag.AXES: json.dumps(axes),
        Tag.DATASET: "mnist",
        Tag.DATASET_DIGEST: "b2d8f5bf39174ee5",
        Tag.N_CLASSES: "10",
        Tag.PROCESS: "bench:1:1",
        **common_tags(),
        **{Tag.AXIS + short: text for short, text in cell.labels.items()},
        Tag.NUMERICS: "exact",
        Tag.LAYER_ACTIVATIONS: json.dumps(activations, separators=(",", ":")),
        Tag.MODEL: "not kept (tracking.keep_model: none)",
    }


def cell_params(cell, axes: list[str]) -> list:
    """A cell run's params, as `Store.log_cell_params` writes them."""
    from mlflow.entities import Param

    from study.plan.grid import flatten_settings
    from study.store.runs import param_text

    params = {k: param_text(v) for k, v in flatten_settings(cell.settings).items()}
    params.update({short: cell.labels[short] for short in cell.labels})
    params["seed"] = str(cell.seed)
    assert len(axes) == len(cell.labels)
    return [Param(k, v) for k, v in params.items()]


def write_cells(job: tuple) -> list[tuple[int, dict]]:
    """Write some cells' runs (one writer process): a run with its tags, one `log_batch` of its params and
    metrics, its end; their manifest entries by the cells' positions."""
    from mlflow import MlflowClient

    uri, exp_id, parent, study_name, axes, numbered = job
    client = MlflowClient(tracking_uri=uri)
    entries = []
    for position, cell in numbered:
        rng = np.random.default_rng(position)
        now = int(time.time() * 1000)
        tags = cell_tags(cell, parent, study_name, axes)
        run_id = client.create_run(exp_id, start_time=now, run_name=cell.name, tags=tags).info.run_id
        client.log_batch(run_id, metrics=cell_metrics(cell, rng, now), params=cell_params(cell, axes))
        client.set_terminated(run_id, "FINISHED", end_time=now + 50)
        entry = {
            "name": cell.name,
            "group": cell.group,
            "config_hash": cell.config_hash,
            "seed": cell.seed,
            "run_id": run_id,
            "status": "done",
            "failure": None,
        }
        entries.append((position, entry))
    return entries


def build_store(n_runs: int, folder: Path, writers: int = 2) -> tuple[str, str, float]:
    """Write the synthetic study run of n_runs runs into folder/mlruns (once), by `writers` processes; its
    URI, study name and the seconds writing it took (0 when it was there already)."""
    from mlflow import MlflowClient

    from study.store.contract import ROLE_PARENT, Artifact, Tag
    from study.store.provenance import common_tags

    store = folder / "mlruns"
    uri = f"sqlite:///{store / 'mlflow.db'}"
    study_name, cells = study_cells(n_runs, folder)
    assert len(cells) == n_runs, (len(cells), n_runs)
    if (folder / "complete").exists():
        return uri, study_name, 0.0
    start = time.perf_counter()
    store.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=uri)
    exp_id = client.create_experiment(study_name, artifact_location=(store / "artifacts" / study_name).as_uri())
    axes = list(cells[0].axes)
    parent_tags = {
        Tag.ROLE: ROLE_PARENT,
        Tag.NAME: study_name,
        Tag.PROCESS: "bench:1:1",
        **common_tags(),
        Tag.N_CELLS: str(len({c.group for c in cells})),
        Tag.AXES: json.dumps(axes),
        Tag.DATASET_DIGEST: "b2d8f5bf39174ee5",
    }
    parent = client.create_run(exp_id, run_name=f"{study_name} synthetic", tags=parent_tags).info.run_id
    slices = [list(enumerate(cells))[i::writers] for i in range(writers)]
    with ProcessPoolExecutor(writers) as pool:
        written = pool.map(write_cells, [(uri, exp_id, parent, study_name, axes, part) for part in slices])
        manifest = [entry for _, entry in sorted(pair for part in written for pair in part)]
    client.log_text(parent, json.dumps(manifest, indent=1, ensure_ascii=False), Artifact.MANIFEST)
    client.set_tag(parent, Tag.CELLS_FAILED, "0")
    client.set_tag(parent, Tag.CELLS_SKIPPED, "0")
    client.set_terminated(parent, "FINISHED")
    (folder / "complete").write_text(uri)
    return uri, study_name, time.perf_counter() - start


def time_report(uri: str, study_name: str, out: Path, limit_s: float, memory_gb: float, code: Path = ROOT) -> dict:
    """One `study report` of the package in `code` in a fresh process: its wall and CPU seconds, peak RSS (MB)
    and the files' sizes; a report still running after limit_s is killed, and its address space is capped at
    memory_gb (the machine is shared), both recorded as `stopped`."""
    command = [sys.executable, "-m", "study.cli", "--store", uri, "report", study_name, "-o", str(out)]
    env = {**os.environ, "PYTHONPATH": str(code)}
    cap = int(memory_gb * 2**30)
    start = time.perf_counter()
    with tempfile.TemporaryFile() as log:
        child = subprocess.Popen(
            command,
            cwd=code,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (cap, cap)),
        )
        timer = threading.Timer(limit_s, child.kill)
        timer.start()
        _, status, usage = os.wait4(child.pid, 0)
        timer.cancel()
        seconds = time.perf_counter() - start
        log.seek(0)
        output = log.read().decode(errors="replace")
    cpu = usage.ru_utime + usage.ru_stime  # on a shared machine, what compares across loads
    measured = {"seconds": seconds, "cpu_s": cpu, "peak_rss_mb": usage.ru_maxrss / 1024}  # Linux: kilobytes
    if os.waitstatus_to_exitcode(status) != 0:
        why = f"killed after {limit_s:.0f} s" if seconds >= limit_s else output.strip().splitlines()[-1:]
        print(f"  study report did not finish: {why}")
        return {**measured, "stopped": str(why)}
    html = out / "report.html"
    return {
        **measured,
        "html_bytes": html.stat().st_size,
        "files_bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
        "figures": len(list((out / "figures").glob("*.png"))),
    }


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, nargs="+", default=sorted(STUDIES), choices=sorted(STUDIES))
    p.add_argument("--reps", type=int, default=1)
    p.add_argument("--stores", default=None, help="folder keeping the synthetic stores between invocations")
    p.add_argument("--writers", type=int, default=2, help="processes writing a new store (default 2)")
    p.add_argument("--limit-s", type=float, default=1800, help="kill a report running longer (default 1800)")
    p.add_argument("--memory-gb", type=float, default=8, help="a report's address-space cap (default 8)")
    p.add_argument("--baseline", default=None, help="a checkout of earlier code to time the same way, once")
    p.add_argument("--baseline-label", default="", help="what the baseline is, e.g. its commit")
    p.add_argument("--baseline-limit-s", type=float, default=600, help="kill a baseline report running longer")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/report_scale.json)")
    a = p.parse_args(argv)
    stores = Path(a.stores) if a.stores else Path(tempfile.mkdtemp(prefix="report_scale_"))
    figure = "`study report` on a synthetic study run, by its number of runs"
    doc = {**results_header(figure, "benchmarks.report_scale", argv), "load_before": load(), "sizes": []}
    for n_runs in a.runs:
        folder = stores / str(n_runs)
        folder.mkdir(parents=True, exist_ok=True)
        uri, study_name, written_s = build_store(n_runs, folder, a.writers)
        print(f"{n_runs:,} runs: store {uri}" + (f" written in {written_s:.1f} s" if written_s else " (reused)"))
        reps = [time_report(uri, study_name, folder / f"report_{rep}", a.limit_s, a.memory_gb) for rep in range(a.reps)]
        size = {"runs": n_runs, "metric_rows": _metric_rows(folder / "mlruns" / "mlflow.db")}
        doc["sizes"].append({**size, "store_write_s": written_s or None, "reps": reps})
        if a.baseline:
            out = folder / "report_baseline"
            baseline = time_report(uri, study_name, out, a.baseline_limit_s, a.memory_gb, Path(a.baseline).resolve())
            doc["sizes"][-1]["baseline"] = {"label": a.baseline_label, **baseline}
        for r in reps:
            _print("report", r)
        if a.baseline:
            _print(f"baseline {a.baseline_label}", doc["sizes"][-1]["baseline"])
    doc["load_after"] = load()
    print(f"wrote {write_results('report_scale', doc, a.out)}")
    return 0


def _print(label: str, r: dict) -> None:
    """One measurement as a line."""
    size = (
        f", HTML {r['html_bytes'] / 1e6:.2f} MB, {r['figures']} figures" if "html_bytes" in r else f" ({r['stopped']})"
    )
    print(f"  {label}: {r['seconds']:.1f} s ({r['cpu_s']:.1f} s CPU), peak RSS {r['peak_rss_mb']:.0f} MB{size}")


def _metric_rows(db: Path) -> int:
    """How many metric points the store holds (its `metrics` table)."""
    import sqlite3

    con = sqlite3.connect(db)
    try:
        return int(con.execute("SELECT COUNT(*) FROM metrics").fetchone()[0])
    finally:
        con.close()


if __name__ == "__main__":
    sys.exit(main())
