"""What each tracking addition of issue 15 costs on the vanishing-gradient study: time and store size.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.tracking [--rounds 3] [--study configs/vanishing_gradient.yaml]

One process runs the whole study (six cells, 2,000 iterations each) into a fresh store once per
variant per round; the variants are interleaved round by round (A B C … A B C …) so a change in the
machine's load hits all of them alike. A warm-up run (untimed) traces the graphs first. Variants:

- `bare`:      keep_model none, system metrics off, no dataset inputs (the cost floor)
- `+datasets`: bare + the train/test dataset inputs (study/store/inputs.py)
- `+sysmet10`: bare + MLflow's system-metrics monitor at the default 10 s interval
- `+sysmet1`:  bare + the monitor at 1 s (only with --variants; `--monitor-only SECONDS` measures the
               monitor thread's CPU per sample instead, independent of the load)
- `+best`:     bare + keep_model best (every model logged, the others dropped at the end)
- `+all`:      bare + keep_model all
- `default`:   the defaults: datasets + system metrics (10 s) + keep_model best

Printed per variant: the study's wall time (run_study, the cells and the parent's bookkeeping),
the sum over cells of the engine's `wall_time_s` (the training thread) and of the run durations
(start to FINISHED, the model upload and monitor stop included), as median [min–max] over the
rounds; the extra over `bare` in percent; and the store size (mlflow.db + artifacts) after the run.
The once-per-study costs (source tags, requirements.txt) are timed on their own. The load average
is printed before and after.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

VARIANTS = {
    "bare": dict(keep="none", sysmet=False, interval=10.0, datasets=False),
    "+datasets": dict(keep="none", sysmet=False, interval=10.0, datasets=True),
    "+sysmet10": dict(keep="none", sysmet=True, interval=10.0, datasets=False),
    "+sysmet1": dict(keep="none", sysmet=True, interval=1.0, datasets=False),  # not in the default list
    "+best": dict(keep="best", sysmet=False, interval=10.0, datasets=False),
    "+all": dict(keep="all", sysmet=False, interval=10.0, datasets=False),
    "default": dict(keep="best", sysmet=True, interval=10.0, datasets=True),
}


def size_of(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def blank_store(root: Path) -> Path:
    """A migrated empty store, made once (migrating costs seconds that are no part of any variant)."""
    from study.store.runs import Store

    path = root / "blank" / "mlflow.db"
    path.parent.mkdir(parents=True)
    Store(f"sqlite:///{path}")
    return path


def one_run(study_path: str, variant: dict, work: Path, blank: Path) -> dict:
    """Run the study with the variant's tracking settings into a fresh store under `work`."""
    from mlflow.tracking import MlflowClient

    import study.execution.cell as cell_module
    from study.check.validated_study import load_study
    from study.execution.driver import run_study
    from study.execution.options import RunOptions
    from study.store.inputs import log_dataset_inputs

    (work / "mlruns").mkdir(parents=True)
    shutil.copy(blank, work / "mlruns" / "mlflow.db")
    os.chdir(work)
    overrides = [
        f"tracking.keep_model={variant['keep']}",
        f"tracking.system_metrics={'true' if variant['sysmet'] else 'false'}",
        f"tracking.system_metrics_interval={variant['interval']}",
    ]
    cell_module.log_dataset_inputs = log_dataset_inputs if variant["datasets"] else (lambda *a: None)
    try:
        result = run_study(load_study(study_path, overrides), RunOptions(progress=False))
    finally:
        cell_module.log_dataset_inputs = log_dataset_inputs
    client = MlflowClient(result.tracking_uri)
    runs = [client.get_run(r.run_id) for r in result.results]
    return {
        "wall": result.wall_time_s,
        "engine": sum(r.metrics["wall_time_s"] for r in result.results),
        "runs": sum((r.info.end_time - r.info.start_time) / 1000 for r in runs),
        "store": size_of(work / "mlruns"),
        "accs": [r.metrics["final_test_acc"] for r in result.results],
    }


def once_per_study() -> dict[str, float]:
    """Seconds of the per-study additions: source tags (git, user) and requirements.txt's text."""
    from study.store import provenance

    t0 = time.perf_counter()
    provenance.source_tags()
    t1 = time.perf_counter()
    provenance.installed.cache_clear()
    provenance.requirements_text()
    t2 = time.perf_counter()
    return {"source_tags": t1 - t0, "requirements": t2 - t1}


def monitor_cpu(seconds: float, interval: float, root: Path, blank: Path) -> dict[str, float]:
    """CPU seconds MLflow's monitor thread uses per sample (collect, run-status read, metric write),
    read from the thread's own CPU clock: independent of the machine's load, unlike wall-time ratios."""
    import psutil
    from mlflow.tracking import MlflowClient

    from study.store.system import CellMonitor

    folder = root / "monitor"
    folder.mkdir()
    db = shutil.copy(blank, folder / "mlflow.db")
    uri = f"sqlite:///{db}"
    client = MlflowClient(uri)
    run_id = client.create_run(client.create_experiment("monitor")).info.run_id
    monitor = CellMonitor(uri, run_id, interval)
    monitor.start()
    time.sleep(seconds)
    native = monitor.monitor._process.native_id
    thread = next(t for t in psutil.Process().threads() if t.id == native)
    cpu = thread.user_time + thread.system_time
    monitor.stop()
    samples = len(client.get_metric_history(run_id, "system/cpu_utilization_percentage"))
    ends = []  # a cell's fixed part: starting the monitor and stopping it with its final sample
    for _ in range(10):
        other = client.create_run(client.get_experiment_by_name("monitor").experiment_id).info.run_id
        t0 = time.thread_time()
        short = CellMonitor(uri, other, interval)
        short.start()
        short.stop()
        ends.append(time.thread_time() - t0)
    return {"cpu_per_sample": cpu / max(1, samples - 1), "samples": samples, "per_cell": statistics.median(ends)}


def part_costs(study_path: str, root: Path, blank: Path, reps: int = 5) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each per-cell addition on the study's first cell's model and data:
    saving the model (training thread), uploading it, logging the dataset inputs (writer thread)."""
    from mlflow.tracking import MlflowClient

    from study.check.validated_study import load_study
    from study.engine.build import save_keras
    from study.engine.training_loop import engine_for
    from study.execution.cell import cell_data
    from study.plan.grid import expand
    from study.store.inputs import log_dataset_inputs
    from study.store.models import log_saved, package

    cell = expand(load_study(study_path))[0]
    data = cell_data(cell)
    model = engine_for(cell.settings, cell.seed, data).model
    folder = root / "parts"
    folder.mkdir()
    uri = f"sqlite:///{shutil.copy(blank, folder / 'mlflow.db')}"
    client = MlflowClient(uri)
    exp = client.create_experiment("parts", artifact_location=(folder / "artifacts").as_uri())
    timings: dict[str, list[tuple[float, float]]] = {"save model": [], "upload model": [], "dataset inputs": []}

    def timed(name: str, fn, *args):
        t0, c0 = time.perf_counter(), time.thread_time()
        out = fn(*args)
        timings[name].append((time.perf_counter() - t0, time.thread_time() - c0))
        return out

    def save(model, x, classes) -> str:
        return package(save_keras(model, x, classes))

    warm = client.create_run(exp).info.run_id
    log_saved(client, warm, save(model, data.x_test, data.num_classes), 1)  # the first save imports: untimed
    for _ in range(reps):
        run_id = client.create_run(exp).info.run_id
        path = timed("save model", save, model, data.x_test, data.num_classes)
        timed("upload model", log_saved, client, run_id, path, 1)
        timed("dataset inputs", log_dataset_inputs, client, run_id, data)
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v)) for k, v in timings.items()}


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):7.2f} [{min(values):.2f}–{max(values):.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--study", default=str(REPO / "configs" / "vanishing_gradient.yaml"))
    parser.add_argument("--variants", default=",".join(n for n in VARIANTS if n != "+sysmet1"))
    parser.add_argument("--parts", action="store_true", help="only time the per-cell additions one by one")
    parser.add_argument("--monitor-only", type=float, default=0, help="only time the monitor thread for N seconds")
    args = parser.parse_args()
    names = args.variants.split(",")
    study_path = str(Path(args.study).resolve())
    root = Path(tempfile.mkdtemp(prefix="bench-tracking-"))
    load_before = os.getloadavg()
    print(f"load average before: {load_before[0]:.2f} {load_before[1]:.2f} {load_before[2]:.2f}; cpus {os.cpu_count()}")
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    blank = blank_store(root)
    if args.parts:
        for name, (wall, cpu) in part_costs(study_path, root, blank).items():
            print(f"{name:15s} {wall * 1000:7.1f} ms wall {cpu * 1000:7.1f} ms CPU (median of 5, one cell)")
        return
    if args.monitor_only:
        cost = monitor_cpu(args.monitor_only, 1.0, root, blank)
        per = cost["cpu_per_sample"]
        print(
            f"monitor thread: {per * 1000:.1f} ms CPU per sample over {cost['samples']} samples at 1 s; "
            f"that is {per / 1.0:.2%} of one core at a 1 s interval, {per / 10.0:.3%} at 10 s; "
            f"start + stop with the final sample: {cost['per_cell'] * 1000:.1f} ms CPU per cell (median of 10)"
        )
        return
    one_run(study_path, VARIANTS["bare"], root / "warmup", blank)  # traces the graphs: untimed
    results: dict[str, list[dict]] = {n: [] for n in names}
    for k in range(args.rounds):
        for name in names:
            # a fresh folder per run: MLflow caches one store per URI, a re-made folder would hit a stale one
            results[name].append(one_run(study_path, VARIANTS[name], root / f"{name}-{k}", blank))
            shutil.rmtree(root / f"{name}-{k}", ignore_errors=True)
            r = results[name][-1]
            print(
                f"round {k + 1} {name:10s} wall {r['wall']:.2f}s runs {r['runs']:.2f}s engine {r['engine']:.2f}s",
                flush=True,
            )
        print_table(results, names, k + 1)
    os.chdir(REPO)  # the runs' folders are gone; source tags read the checkout's git state
    once = once_per_study()
    print(
        f"once per study: source tags {once['source_tags'] * 1000:.0f} ms, "
        f"requirements.txt {once['requirements'] * 1000:.0f} ms"
    )
    shutil.rmtree(root, ignore_errors=True)


def print_table(results: dict[str, list[dict]], names: list[str], rounds: int) -> None:
    """The side-by-side table of the rounds so far (printed after each round: a cut-short run still reports)."""
    load_after = os.getloadavg()
    accs = {tuple(r["accs"]) for rs in results.values() for r in rs}
    base = {key: statistics.median(r[key] for r in results["bare"]) for key in ("wall", "runs", "engine")}
    base_store = statistics.median(r["store"] for r in results["bare"])
    print()
    print(
        f"{'variant':10s} {'study wall (s)':>22s} {'Σ run durations (s)':>22s} {'Σ engine (s)':>22s}"
        f" {'+wall':>7s} {'+runs':>7s} {'+engine':>8s} {'store (MB)':>10s} {'+store':>8s}"
    )
    for name in names:
        rs = results[name]
        extra = {key: statistics.median(r[key] for r in rs) / base[key] - 1 for key in base}
        store = statistics.median(r["store"] for r in rs)
        print(
            f"{name:10s} {spread([r['wall'] for r in rs]):>22s} {spread([r['runs'] for r in rs]):>22s}"
            f" {spread([r['engine'] for r in rs]):>22s} {extra['wall']:+7.1%} {extra['runs']:+7.1%}"
            f" {extra['engine']:+8.1%} {store / 1e6:10.2f} {(store - base_store) / 1e6:+8.2f}"
        )
    print(f"final test accuracies identical in every run: {len(accs) == 1}")
    print(
        f"load average now: {load_after[0]:.2f} {load_after[1]:.2f} {load_after[2]:.2f}; {rounds} round(s)", flush=True
    )


if __name__ == "__main__":
    sys.exit(main())
