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

The instrumented run wraps functions from the outside (this file only); a name that another
version of the package no longer has is listed as "not instrumented" and its time falls into the
enclosing phase. Results go to benchmarks/results/phases.json (git-ignored; `--out`).
"""

from __future__ import annotations

import argparse
import functools
import importlib.abc
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = ROOT / "configs" / "vanishing_gradient.yaml"
HEAVY = ("tensorflow", "keras", "mlflow", "sqlalchemy", "pandas", "matplotlib", "seaborn", "scipy", "numpy")


# --- the instrumented child ------------------------------------------------------------------

EVENTS: list[tuple[str, str, float, float, int]] = []  # (label, thread, start, end, depth)
MISSING: list[str] = []
_depth = threading.local()
TRAINER_SINK: list = []  # in the training process: the file each event is appended to as it ends


def timed(label: str | Callable[[tuple], str], fn):
    """`fn` recording (label, thread, start, end, nesting depth) for every call."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        depth = getattr(_depth, "n", 0)
        _depth.n = depth + 1
        t0 = time.time()
        try:
            return fn(*args, **kwargs)
        finally:
            event = (label(args) if callable(label) else label, threading.current_thread().name, t0, time.time(), depth)
            EVENTS.append(event)
            for sink in TRAINER_SINK:  # the trainer is killed at the study's end: write as it goes
                sink.write(json.dumps(event) + "\n")
                sink.flush()
            _depth.n = depth

    return wrapper


def patch(owner, name: str, label) -> None:
    """Replace owner.name by its timed version, or note that this package version has no such name."""
    fn = getattr(owner, name, None)
    if fn is None:
        MISSING.append(f"{getattr(owner, '__name__', owner)}.{name}")
        return
    setattr(owner, name, timed(label, fn))


def first_call_per_instance(label_first: str, label_rest: str, fn):
    """A method timed as `label_first` on its first call per object (the trace), `label_rest` after."""
    seen: set[int] = set()

    def label(args):
        key = id(args[0])
        if key in seen:
            return label_rest
        seen.add(key)
        return label_first

    return timed(label, fn)


def timed_submit(submit):
    """BackgroundWriter.submit whose jobs are timed on the writer thread under their function's name."""

    @functools.wraps(submit)
    def wrapper(self, fn, *args):
        return submit(self, timed("writer: " + getattr(fn, "__name__", "write"), fn), *args)

    return wrapper


def instrument(module) -> None:
    """The wrappers for one just-imported module of the package."""
    m, name = module, module.__name__
    if name == "study.studyfile":
        patch(m, "load_study", "validation (study file, grid)")
    elif name == "study.grid":
        patch(m, "expand", "validation (study file, grid)")
    elif name == "study.data":
        patch(m, "load", "data load")
    elif name == "study.run.preflight":
        patch(m, "preflight", "validation (preflight: shapes, sizes, settings)")
    elif name == "study.run.warmup":
        patch(m, "wait", "waiting for the engine warm-up (TensorFlow import, first trace)")
    elif name == "study.run.trainer":  # the driver's side of the training process
        patch(m.Trainer, "numerics", "waiting for the trainer's start-up (TensorFlow import)")
        patch(m.Trainer, "train", "cell: training (in the trainer; its callbacks here)")
        patch(m.Trainer, "save_model", "cell: saving the model (in the trainer)")
        patch(m.Trainer, "dataset", "data: waiting for the trainer's load and description")
    elif name == "study.run.training_process":  # the training process itself
        patch(m, "preload_model_saving", "importing MLflow for model saving")
        patch(m, "warm", "first engine started (build and trace go on in a thread)")
        patch(m, "describe_all", "data load and description (before TensorFlow)")
    elif name == "study.store.models":
        patch(m, "save_local", "cell: saving the model")  # up to 5cf1b4c: saved as an MLflow model where trained
        patch(m, "package", "cell: packaging the model (MLflow)")
        patch(m, "preload", "model saving's imports")
    elif name == "study.engine.model":
        patch(m, "save_keras", "cell: saving the model")
    elif name in ("study.store.connect", "study.store.creation") and hasattr(m, "create_sqlite_store"):
        patch(m, "create_sqlite_store", "store: create SQLite")  # in connect up to 747c848
    elif name == "study.store.runs":
        patch(m.Store, "__init__", "store: open")
        for method in ("experiment_id", "mark_dead_runs", "finished_cells", "start_parent"):
            patch(m.Store, method, "store: study set-up")
        for method in ("claim", "taken", "start_cell"):
            patch(m.Store, method, "cell: run set-up")
    elif name == "study.store.views":
        patch(m, "share_runs_view", "store: study set-up")
    elif name == "study.store.writer":
        patch(m.BackgroundWriter, "flush", "waiting for the writer")
        m.BackgroundWriter.submit = timed_submit(m.BackgroundWriter.submit)
    elif name == "study.run.cell":
        patch(m, "run_cell", "cell: other")
    elif name == "study.run.metrics":
        for method in ("set_model", "on_chunk_end", "on_train_end"):
            patch(m.MetricLogger, method, "cell: logging")
    elif name == "study.engine.train":
        patch(m.Engine, "__init__", "cell: model build")
        if hasattr(m.Engine, "chunk"):
            m.Engine.chunk = first_call_per_instance("cell: first graph call (trace)", "cell: training", m.Engine.chunk)
        else:
            MISSING.append("Engine.chunk")
        patch(m, "engine_for", "cell: other")
    elif name == "study.run.parent":
        patch(m, "close_parent", "study end")
    elif name == "study.run.runner":
        patch(m, "final_table", "final table")
    elif name == "study.report.write":
        patch(m, "write_report", "report")


class ImportTimer(importlib.abc.MetaPathFinder):
    """Times the first import of the heavy libraries and of every `study` module, and instruments the latter."""

    def find_spec(self, fullname, path, target=None):
        top = fullname.split(".")[0]
        if not (fullname in HEAVY or top == "study"):
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            sys.meta_path.insert(0, self)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module
        label = f"import {fullname}" if fullname in HEAVY else "import study.* (own code)"

        def run(module):
            timed(label, exec_module)(module)
            if top == "study":
                instrument(module)

        spec.loader.exec_module = run
        return spec


HOOK = """\
import os, sys
if os.environ.get("PHASES_OUT") and sys.argv[:1] == ["-c"]:  # the training process of the instrumented run
    sys.path.insert(0, os.environ["PHASES_ROOT"])
    from benchmarks.phases import trainer_hook
    trainer_hook()
"""


def trainer_hook() -> None:
    """In the training process (started through HOOK, a sitecustomize on its path): the same wrappers,
    each event appended to $PHASES_OUT.trainer as it ends."""
    TRAINER_SINK.append(open(os.environ["PHASES_OUT"] + ".trainer", "a", encoding="utf-8"))  # noqa: SIM115
    sys.meta_path.insert(0, ImportTimer())


def child(argv: list[str]) -> int:
    """Run the `study` console command with the wrappers in place; write the events to $PHASES_OUT.

    The command runs as the console script does (`main()` on sys.argv), so it ends its process the
    same way; the events are written just before.
    """
    started = time.time()
    sys.meta_path.insert(0, ImportTimer())
    t0 = time.time()
    import study.cli as cli

    EVENTS.append(("import study.cli", "MainThread", t0, time.time(), 0))

    def save() -> None:
        doc = {"started": started, "ended": time.time(), "events": EVENTS, "missing": MISSING}
        Path(os.environ["PHASES_OUT"]).write_text(json.dumps(doc))

    end_process = getattr(cli, "end_process", None)
    if end_process is not None:

        def save_then_end(code: int):
            save()
            end_process(code)

        cli.end_process = save_then_end
    sys.argv = ["study", *argv]
    try:
        rc = cli.main()
    finally:
        save()
    return rc


# --- the NumPy child -------------------------------------------------------------------------


def numpy_child(config: str, overrides: list[str]) -> int:
    """The course's NumPy loop (float64) for the study's cells; prints JSON of per-cell seconds."""
    import numpy as np

    from benchmarks import numpy_course
    from study.grid import expand
    from study.studyfile import load_study

    data = numpy_course.load_mnist()
    rows = []
    for cell in expand(load_study(config, overrides)):
        s = cell.settings
        r = numpy_course.run_cell(
            s.model.activation, s.model.initializer, cell.seed, np.float64, data, s.train.iterations
        )
        rows.append({"cell": cell.name, "seconds": r.seconds, "final_test_acc": r.final_test_accuracy})
    print(json.dumps(rows))
    return 0


# --- the parent ------------------------------------------------------------------------------


def clean_env(tree: str | None = None, **extra: str) -> dict[str, str]:
    """This environment with `tree` (default this checkout) first on the path and no MLFLOW_TRACKING_URI."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env["PYTHONPATH"] = str(Path(tree).resolve() if tree else ROOT) + os.pathsep + env.get("PYTHONPATH", "")
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


def study_once(config: str, args: list[str], instrumented: bool, tree: str | None = None) -> dict:
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
        env = clean_env(tree, PHASES_OUT=str(out), PHASES_ROOT=str(ROOT))
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
        result = {"seconds": wall, **parse_table(proc.stdout)}
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
        f"{os.cpu_count()} CPUs; load average {r['load_before']} before, {r['load_after']} after; {r['when']}"
    )
    print("seconds, median [min–max]:")
    tf = [x["tf_import"] for x in reps]
    e2e = [x["study"]["seconds"] for x in reps]
    cells = [sum(x["study"]["cell_seconds"]) for x in reps]
    npy = [x["numpy"]["seconds"] for x in reps]
    npp = [x["numpy"]["process_seconds"] for x in reps]
    over = [a - b for a, b in zip(e2e, cells)]
    print(f"  TensorFlow import (fresh process)                 {fmt(tf)}")
    if r.get("baseline"):
        base = [x["baseline"]["seconds"] for x in reps]
        base_cells = [sum(x["baseline"]["cell_seconds"]) for x in reps]
        print(f"  baseline ({r['baseline']}) study run, start to exit {fmt(base)}  (cells {fmt(base_cells)})")
        print(f"  baseline / this study run                         {fmt([b / e for b, e in zip(base, e2e)])}")
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
    p.add_argument(
        "--baseline",
        default=None,
        metavar="DIR",
        help="another checkout of the package (e.g. `git archive` of an older commit): its `study run` is "
        "timed in each rep too, for a before/after in one run",
    )
    p.add_argument("--report-only", action="store_true", help="print the table of the --out file and exit")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "phases.json"))
    a = p.parse_args(argv)
    if a.report_only:
        report(json.loads(Path(a.out).read_text()))
        return 0
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")
    a.config = str(Path(a.config).resolve())
    extra = [x for o in a.overrides for x in ("--set", o)]
    r: dict = {"config": a.config, "args": extra, "load_before": load(), "when": time.strftime("%Y-%m-%d %H:%M")}
    r["baseline"], r["reps"] = a.baseline, []
    no_numpy = {"seconds": float("nan"), "process_seconds": float("nan"), "cells": []}
    for _ in range(a.reps):
        rep: dict = {"tf_import": tf_import_seconds()}
        if a.baseline:
            rep["baseline"] = study_once(a.config, extra, instrumented=False, tree=a.baseline)
        rep["study"] = study_once(a.config, extra, instrumented=False)
        rep["instrumented"] = study_once(a.config, extra, instrumented=True)
        rep["numpy"] = no_numpy if a.skip_numpy else numpy_once(a.config, a.overrides)
        r["reps"].append(rep)
        r["load_after"] = load()
        Path(a.out).parent.mkdir(parents=True, exist_ok=True)
        Path(a.out).write_text(json.dumps(r, indent=1))  # after every rep: a long run interrupted keeps its reps
    report(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
