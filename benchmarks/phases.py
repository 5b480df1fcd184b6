"""Where a user's wait goes: a whole `study run` broken into phases, beside the course's NumPy loop.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.phases [--reps 2] [--config configs/vanishing_gradient.yaml]

Each repetition runs, one after the other (interleaved, so a change in machine load hits all alike):
1. the TensorFlow import alone, in a fresh process (`import study.engine.backend`: TensorFlow + Keras
   with the package's settings), the yardstick of the fixed overhead;
2. `study run CONFIG --quiet` as a user runs it, in a fresh temp directory (a new SQLite store),
   timed from process start to exit, with the cells' own times from its final table;
3. the same command in an instrumented process (`--child`), which timestamps the phases:
   interpreter start, imports, validation, data load, store creation and set-up, per cell (run
   set-up, TensorFlow import, model build, first graph call = trace, training, logging), waiting
   for the writer, the study's end, the final table and the interpreter's exit — and, on the
   writer thread, every queued store write;
4. the course's NumPy loop (benchmarks/numpy_course.py, float64 as the notebook runs it) for the
   same cells, in a fresh process (the data load is not timed, as in numpy_course).

The instrumented run wraps the package's functions from the outside (a name it no longer has is listed as
"not instrumented" and its time falls into the enclosing phase). Results: benchmarks/results/phases.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.phases_child import HOOK, child, numpy_child
from benchmarks.record import RESULTS, results_header, write_results

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "vanishing_gradient.yaml"

# --- the parent ------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This environment with this checkout first on the path and no MLFLOW_TRACKING_URI."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra)
    return env


def tf_import_seconds() -> float:
    code = "import time; t = time.perf_counter(); import study.engine.backend; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], env=clean_env(), capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def parse_table(stdout: str) -> dict:
    cells = [float(m.group(1)) for m in re.finditer(r"\bdone\s+\S+\s+\S+\s+([\d.]+)s\s*$", stdout, re.M)]
    inside = re.search(r"([\d.]+)s in all", stdout)
    accs = re.findall(r"\bdone\s+(\S+)\s+\S+\s+[\d.]+s\s*$", stdout, re.M)
    return {
        "cell_seconds": cells,
        "run_study_seconds": float(inside.group(1)) if inside else None,
        "final_test_acc": accs,
    }


def study_once(config: str, args: list[str], instrumented: bool) -> dict:
    """One `study run` in a fresh temp dir: wall from process start to exit, the table, and (instrumented) events."""
    with tempfile.TemporaryDirectory(prefix="bench-phases-") as tmp:
        out = Path(tmp) / "events.json"
        cmd = (
            [sys.executable, "-m", "benchmarks.phases", "--child", "--", "run", config, "--quiet", *args]
            if instrumented
            else [sys.executable, "-m", "study.cli", "run", config, "--quiet", *args]
        )
        work = Path(tmp) / "work"
        work.mkdir()
        # the study file copied into the temp project: the store is found from the study file's folder,
        # so a run on the checkout's configs/ would write into (and skip the cells of) the checkout's store
        local = work / Path(config).name
        shutil.copyfile(config, local)
        cmd = [local if part == config else part for part in cmd]
        launch = time.time()
        t0 = time.perf_counter()
        env = clean_env(PHASES_OUT=str(out), PHASES_ROOT=str(ROOT))
        if instrumented:  # the training process is instrumented through a sitecustomize on its path
            hook = Path(tmp) / "hook"
            hook.mkdir()
            (hook / "sitecustomize.py").write_text(HOOK)
            env["PYTHONPATH"] = f"{hook}{os.pathsep}{env['PYTHONPATH']}"
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        exited = time.time()
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        result = {"seconds": wall, "stdout": proc.stdout, **parse_table(proc.stdout)}
        if instrumented:
            doc = json.loads(out.read_text())
            result["phases"] = breakdown(doc, launch, exited)
            result["writer"] = writer_totals(doc)
            result["missing"] = doc["missing"]
            result["trainer"] = trainer_totals(Path(str(out) + ".trainer"), launch)
    return result


def exclusive_main_thread(events: list) -> dict[str, float]:
    """Seconds per label on the main thread, each event minus the events nested in it."""
    main = sorted((e for e in events if e[1] == "MainThread"), key=lambda e: (e[2], -e[3]))
    totals: dict[str, float] = {}
    stack: list[list] = []  # [label, start, end, child_time]

    def close(frame):
        label, start, end, inner = frame
        totals[label] = totals.get(label, 0.0) + (end - start) - inner
        if stack:
            stack[-1][3] += end - start

    for label, _, start, end, _ in main:
        while stack and stack[-1][2] <= start:
            close(stack.pop())
        stack.append([label, start, end, 0.0])
    while stack:
        close(stack.pop())
    return totals


def breakdown(doc: dict, launch: float, exited: float) -> dict[str, float]:
    """The main thread's time from launch to exit, split into disjoint phases."""
    phases = {"interpreter start": doc["started"] - launch}
    phases.update(exclusive_main_thread(doc["events"]))
    first = min(e[2] for e in doc["events"])
    phases["interpreter start"] += first - doc["started"]
    covered = sum(phases.values())
    phases["exit (interpreter shutdown)"] = exited - doc["ended"]
    phases["not attributed (CLI, runner glue)"] = (doc["ended"] - launch) - covered
    return phases


def writer_totals(doc: dict) -> dict[str, float]:
    out: dict[str, float] = {}
    for label, thread, start, end, depth in doc["events"]:
        if thread != "MainThread" and depth == 0:
            out[label] = out.get(label, 0.0) + end - start
    return out


def trainer_totals(path: Path, launch: float) -> dict[str, float]:
    """Seconds per label in the training process (its outermost events per thread), and when its
    first cell started training, from the driver's launch."""
    if not path.exists():
        return {}
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out: dict[str, float] = {}
    for label, thread, start, end, depth in events:
        if depth == 0 or label.startswith("import "):
            key = f"{label} ({'main' if thread == 'MainThread' else thread})"
            out[key] = out.get(key, 0.0) + end - start
    trains = [start for label, thread, start, *_ in events if label == "cell: training"]
    if trains:
        out["first chunk of training starts, after launch"] = min(trains) - launch
    return out


def numpy_once(config: str, overrides: list[str]) -> dict:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.phases", "--numpy-child", config, *overrides],
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"process_seconds": time.perf_counter() - t0, "cells": rows, "seconds": sum(r["seconds"] for r in rows)}


def med(values):
    return statistics.median(values), min(values), max(values)


def fmt(values) -> str:
    m, lo, hi = med(values)
    return f"{m:7.2f} [{lo:.2f}–{hi:.2f}]"


def report(r: dict) -> None:
    reps = r["reps"]
    print(
        f"phases benchmark: {r['config']} {' '.join(r['args'])}; {len(reps)} interleaved rep(s); "
        f"{r['machine']}; load average {r['load_before']} before, {r['load_after']} after; {r['date']}"
    )
    print("seconds, median [min–max]:")
    tf = [x["tf_import"] for x in reps]
    e2e = [x["study"]["seconds"] for x in reps]
    cells = [sum(x["study"]["cell_seconds"]) for x in reps]
    npy = [x["numpy"]["seconds"] for x in reps]
    npp = [x["numpy"]["process_seconds"] for x in reps]
    over = [a - b for a, b in zip(e2e, cells)]
    print(f"  TensorFlow import (fresh process)                 {fmt(tf)}")
    print(f"  study run, process start to exit                  {fmt(e2e)}")
    print(f"    of which the cells (final table's times, sum)   {fmt(cells)}")
    print(f"    the rest (wall - cells)                         {fmt(over)}")
    print(f"  NumPy course loop, float64, the same cells (sum)  {fmt(npy)}   (process: {fmt(npp)})")
    ratio = [n / e for n, e in zip(npy, e2e)]
    budget = [o - t for o, t in zip(over, tf)]
    verdict = "PASS" if med(ratio)[0] >= 2 else "FAIL"
    print(f"  NumPy loop / study run end to end                 {fmt(ratio)}   target ≥ 2: {verdict}")
    print(
        f"  (wall - cells) - TensorFlow import                {fmt(budget)}   target ≤ 1.5: "
        f"{'PASS' if med(budget)[0] <= 1.5 else 'FAIL'}"
    )
    print("  per cell, study (final table) vs NumPy:")
    for k, row in enumerate(reps[0]["numpy"]["cells"]):
        st = [x["study"]["cell_seconds"][k] for x in reps if k < len(x["study"]["cell_seconds"])]
        nv = [x["numpy"]["cells"][k]["seconds"] for x in reps]
        print(f"    {row['cell']:<32} study {fmt(st)}  numpy {fmt(nv)}")
    print("instrumented run, main thread, launch to exit (median over reps):")
    labels = sorted(
        {k for x in reps for k in x["instrumented"]["phases"]},
        key=lambda k: -med([x["instrumented"]["phases"].get(k, 0.0) for x in reps])[0],
    )
    for label in labels:
        print(f"  {label:<44} {fmt([x['instrumented']['phases'].get(label, 0.0) for x in reps])}")
    print(f"  {'total (instrumented run wall)':<44} {fmt([x['instrumented']['seconds'] for x in reps])}")
    print("other threads (the MLflow writer; the engine built ahead), off the critical path, sharing the cores:")
    for label in sorted({k for x in reps for k in x["instrumented"]["writer"]}):
        print(f"  {label:<44} {fmt([x['instrumented']['writer'].get(label, 0.0) for x in reps])}")
    trainer = {k for x in reps for k in x["instrumented"].get("trainer", {})}
    if trainer:
        print("the training process (imports nested in the events that caused them), sharing the cores:")
        for label in sorted(trainer):
            print(f"  {label:<60} {fmt([x['instrumented']['trainer'].get(label, 0.0) for x in reps])}")
    if reps[0]["instrumented"]["missing"]:
        print(f"not instrumented (absent in this version): {', '.join(reps[0]['instrumented']['missing'])}")
    print(f"final test accuracies: {' '.join(reps[0]['study']['final_test_acc'])}")


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return child(argv[2:] if argv[1:2] == ["--"] else argv[1:])
    if argv[:1] == ["--numpy-child"]:
        return numpy_child(argv[1], argv[2:])
    p = argparse.ArgumentParser(description="A study's wall time in phases, beside the course's NumPy loop.")
    p.add_argument("--config", default=str(DEFAULT_CONFIG))
    p.add_argument("--reps", type=int, default=2)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--skip-numpy", action="store_true")
    p.add_argument("--report-only", action="store_true", help="print the table of the --out file and exit")
    p.add_argument("--out", default=None, help="JSON file (default benchmarks/results/phases.json)")
    a = p.parse_args(argv)
    if a.report_only:
        report(json.loads(Path(a.out or RESULTS / "phases.json").read_text()))
        return 0
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")
    config = Path(a.config).resolve()
    a.config = str(config)
    extra = [x for o in a.overrides for x in ("--set", o)]
    figure = "a study end to end, process start to exit, in phases, beside the course's NumPy loop"
    r: dict = {**results_header(figure, "benchmarks.phases", argv), "config": str(config.relative_to(ROOT))}
    r.update({"args": extra, "load_before": load(), "reps": []})
    no_numpy = {"seconds": float("nan"), "process_seconds": float("nan"), "cells": []}
    for _ in range(a.reps):
        rep: dict = {"tf_import": tf_import_seconds()}
        rep["study"] = study_once(a.config, extra, instrumented=False)
        rep["instrumented"] = study_once(a.config, extra, instrumented=True)
        rep["numpy"] = no_numpy if a.skip_numpy else numpy_once(a.config, a.overrides)
        r["reps"].append(rep)
        r["load_after"] = load()
        write_results("phases", r, a.out)  # after every rep: a long run interrupted keeps its reps
    report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
