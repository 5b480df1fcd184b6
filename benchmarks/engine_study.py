"""The engine benchmark's modes 2 and 3: the whole VG study as a user runs it, and memory over many cells.

python -m benchmarks.engine --end-to-end    `study run configs/vanishing_gradient.yaml` as a subprocess
python -m benchmarks.engine --memory        30 cells in one process: peak RSS and per-cell time
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from benchmarks.cells import (
    DEFAULT_REPS,
    ENGINE_VARIANTS,
    MEMORY_CELLS,
    MEMORY_ITERATIONS,
    QUICK_ITERATIONS,
    QUICK_MEMORY_CELLS,
    QUICK_MEMORY_ITERATIONS,
    QUICK_REPS,
    VG_CONFIG,
    Tracking,
    load_data,
    measure_engine,
    protocol_settings,
)
from benchmarks.record import check, fmt_load, machine, print_targets, require_data_dir, spread

# --- mode 2: end to end --------------------------------------------------------------------


def study_command() -> list[str]:
    """The `study` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "study"
    return [str(script)] if script.exists() else [sys.executable, "-m", "study.cli"]


def vg_overrides(quick: bool) -> list[str]:
    return [f"train.iterations={QUICK_ITERATIONS}"] if quick else []


def end_to_end_once(overrides: list[str]) -> dict:
    """`study run VG --rerun --quiet` in a fresh temp dir (fresh store), timed from process start to exit.

    With overrides (--quick's shorter training) the copy leaves out the study's `expect:` ranges, which
    hold for the full training only: unmet, they would make `study run` exit 1 and end the smoke run.
    """
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        # a copy of the study file in the temp dir: its project, so its store, is the temp dir
        config = Path(tmp) / VG_CONFIG.name
        if overrides:
            doc = yaml.safe_load(VG_CONFIG.read_text())
            doc.pop("expect", None)
            config.write_text(yaml.safe_dump(doc, sort_keys=False))
        else:
            shutil.copyfile(VG_CONFIG, config)
        cmd = study_command() + ["run", str(config), "--rerun", "--quiet"]
        for item in overrides:
            cmd += ["--set", item]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=tmp, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
    cells = [float(m.group(1)) for m in re.finditer(r"\bdone\s+\S+\s+\S+\s+([\d.]+)s\s*$", proc.stdout, re.M)]
    wall = re.search(r"([\d.]+)s in all", proc.stdout)
    return {
        "seconds": seconds,
        "cell_seconds": cells,
        "run_study_seconds": float(wall.group(1)) if wall else None,
        "table": proc.stdout,
    }


def engine_reference(out: Path, quick: bool) -> tuple[dict, str]:
    """The engine's per-cell medians {new_graph, cached_graph}: from mode 1's JSON when its iterations
    match, else measured now."""
    from study.check.validated_study import load_study

    vg = load_study(VG_CONFIG, vg_overrides(quick)).base.train
    if out.exists():
        saved = json.loads(out.read_text()).get("per_cell")
        if saved and saved["iterations"] == vg.iterations:
            note = (
                ""
                if saved["diagnostics_every"] == vg.diagnostics_every
                else (f"; diagnostics_every {saved['diagnostics_every']} there, {vg.diagnostics_every} in the study")
            )
            when = f"{saved['machine_before']['when']}, load average {fmt_load(saved['machine_before'])}"
            return engine_medians(saved["engine"]), f"{out} of {when}{note}"
    settings = protocol_settings("sigmoid", "xavier", vg.iterations, vg.diagnostics_every, vg.steps_per_call)
    measured = measure_engine(settings, load_data(), QUICK_REPS["engine"] if quick else 3)
    return engine_medians(measured), "measured now (sigmoid/xavier, the study's train settings)"


def engine_medians(engine: dict) -> dict:
    return {v: engine[v]["seconds"]["median"] for v in ENGINE_VARIANTS}


def end_to_end(args) -> dict:
    """Mode 2: the whole VG study as a subprocess, N times, against 6 x engine + 15 s."""
    reps = args.reps or (QUICK_REPS if args.quick else DEFAULT_REPS)["end_to_end"]
    require_data_dir()
    before = machine()
    engine, source = engine_reference(Path(args.out), args.quick)
    runs = [end_to_end_once(vg_overrides(args.quick)) for _ in range(reps)]
    seconds = spread([r["seconds"] for r in runs])
    budget = 6 * engine["new_graph"] + 15  # the engine time as mode 1 defines it: build and tracing included
    return {
        "machine_before": before,
        "machine_after": machine(),
        "quick": args.quick,
        "command": " ".join(
            study_command()
            + ["run", str(VG_CONFIG), "--rerun", "--quiet"]
            + [f"--set {o}" for o in vg_overrides(args.quick)]
        ),
        "seconds": seconds,
        "runs": runs,
        "engine_per_cell": engine,
        "engine_source": source,
        "budget_seconds": budget,
        "budget_seconds_cached_graph": 6 * engine["cached_graph"] + 15,
        "targets": [check("end_to_end_over_budget", seconds["median"] / budget)],
    }


def print_end_to_end(r: dict) -> None:
    print(f"\nend to end: {r['command']}" + ("  [--quick]" if r["quick"] else ""))
    print(f"machine: load average {fmt_load(r['machine_before'])} before, {fmt_load(r['machine_after'])} after")
    for k, run in enumerate(r["runs"], 1):
        cells = run["cell_seconds"]
        inside = run["run_study_seconds"]
        print(
            f"  run {k}: {run['seconds']:.2f} s process start to exit = cells {' '.join(f'{c:.1f}' for c in cells)} "
            f"(sum {sum(cells):.1f} s) + rest of run_study {(inside or 0) - sum(cells):.1f} s (store creation, "
            f"TensorFlow import, data, run bookkeeping, last writes) + outside run_study "
            f"{run['seconds'] - (inside or 0):.1f} s "
            f"(interpreter start, CLI imports, exit)"
        )
    s = r["seconds"]
    print(
        f"median {s['median']:.2f} s (min {s['min']:.2f}, max {s['max']:.2f}, {len(s['values'])} runs); "
        f"budget 6 x {r['engine_per_cell']['new_graph']:.3f} (engine, new graph) + 15 = {r['budget_seconds']:.2f} s; "
        f"with the cached-graph time: {r['budget_seconds_cached_graph']:.2f} s  [engine: {r['engine_source']}]"
    )
    print_targets(r["targets"])


# --- mode 3: memory over many cells --------------------------------------------------------


def rss_mib() -> tuple[float, float]:
    """(peak RSS from getrusage, current VmRSS from /proc) in MiB."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    current = float("nan")
    status = Path("/proc/self/status")
    if status.exists():
        m = re.search(r"^VmRSS:\s+(\d+) kB", status.read_text(), re.M)
        current = int(m.group(1)) / 1024 if m else current
    return peak, current


def memory(args) -> dict:
    """Mode 3: N cells of the VG study (fewer iterations) in this process, logged; RSS and time per cell."""
    from study.check.validated_study import load_study
    from study.engine.training_loop import train_and_evaluate
    from study.execution.metrics import MetricLogger
    from study.plan.grid import expand

    n = args.cells or (QUICK_MEMORY_CELLS if args.quick else MEMORY_CELLS)
    iterations = QUICK_MEMORY_ITERATIONS if args.quick else MEMORY_ITERATIONS
    before = machine()
    cells = expand(load_study(VG_CONFIG, [f"train.iterations={iterations}"]))
    data = load_data()
    tracking = Tracking()
    rows = []
    try:
        for k in range(n):
            cell = cells[k % len(cells)]
            logger = MetricLogger(tracking.store, tracking.new_run(), tracking.writer)
            t0 = time.perf_counter()
            train_and_evaluate(cell.settings, cell.seed, data, callbacks=[logger])
            tracking.writer.flush()
            peak, current = rss_mib()
            rows.append(
                {
                    "cell": k + 1,
                    "name": cell.name,
                    "seconds": time.perf_counter() - t0,
                    "peak_rss_mib": peak,
                    "rss_mib": current,
                }
            )
    finally:
        tracking.close()
    return summarize_memory(rows, iterations, before)


def summarize_memory(rows: list[dict], iterations: int, before: dict) -> dict:
    """Peak RSS after 3 vs after N cells, time of cells 1-3 vs the last 3 (and the last 3 sharing 1-3's configs)."""
    n = len(rows)
    first, last = rows[:3], rows[-3:]
    same = rows[(n - 3) // 6 * 6 :][:3] if n >= 9 else first  # cells with the same configs as cells 1-3, near the end
    t_first = statistics.median(r["seconds"] for r in first)
    t_last = statistics.median(r["seconds"] for r in last)
    growth = rows[-1]["peak_rss_mib"] / rows[2]["peak_rss_mib"]
    return {
        "machine_before": before,
        "machine_after": machine(),
        "cells": n,
        "iterations": iterations,
        "rows": rows,
        "peak_rss_after_3": rows[2]["peak_rss_mib"],
        "peak_rss_after_n": rows[-1]["peak_rss_mib"],
        "rss_after_3": rows[2]["rss_mib"],
        "rss_after_n": rows[-1]["rss_mib"],
        "seconds_first_3": t_first,
        "seconds_last_3": t_last,
        "same_configs_late": [r["cell"] for r in same],
        "seconds_same_configs_late": statistics.median(r["seconds"] for r in same),
        "targets": [check("memory_growth", growth), check("time_drift", t_last / t_first)],
    }


def print_memory(r: dict) -> None:
    n = r["cells"]
    print(
        f"\nmemory: {n} VG cells ({r['iterations']} iterations each, cycling the 6 cells, MLflow logging) "
        f"in one process"
    )
    print(f"machine: load average {fmt_load(r['machine_before'])} before, {fmt_load(r['machine_after'])} after")
    print(
        f"  peak RSS (ru_maxrss): after 3 cells {r['peak_rss_after_3']:.0f} MiB, "
        f"after {n} {r['peak_rss_after_n']:.0f} MiB"
    )
    print(f"  current RSS (VmRSS):  after 3 cells {r['rss_after_3']:.0f} MiB, after {n} {r['rss_after_n']:.0f} MiB")
    print(
        f"  seconds per cell, median: cells 1-3 {r['seconds_first_3']:.3f}, cells {n - 2}-{n} "
        f"{r['seconds_last_3']:.3f}, cells {'/'.join(map(str, r['same_configs_late']))} (same configs as 1-3) "
        f"{r['seconds_same_configs_late']:.3f}"
    )
    print("  per cell (s):  " + " ".join(f"{row['seconds']:.2f}" for row in r["rows"]))
    print("  VmRSS (MiB):   " + " ".join(f"{row['rss_mib']:.0f}" for row in r["rows"]))
    print_targets(r["targets"])
