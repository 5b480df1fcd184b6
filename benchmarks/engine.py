"""Engine benchmark (issues 5 and 18): our engine against the NumPy course loop, naive Keras and the arithmetic bound.

Three modes, each one process run (see benchmarks/README.md for how to read the output):

    python -m benchmarks.engine                 per-cell table: engine, NumPy, naive Keras, bound
    python -m benchmarks.engine --end-to-end    `study run configs/vanishing_gradient.yaml` as a subprocess
    python -m benchmarks.engine --memory        30 cells in one process: peak RSS and per-cell time

Protocol (the course's): MNIST 60,000/10,000 from $STUDY_DATA_DIR, dense 784-40-20-10, SGD lr 0.1,
batches of 100 drawn with replacement, 2,000 iterations, the full test set evaluated every 10
iterations. Results are printed and merged into a JSON file (one section per mode).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bound import (
    BATCH,
    EVAL_EVERY,
    ITERATIONS,
    LAYERS,
    LEARNING_RATE,
    arithmetic_bound,
    dominant_rate,
    matmul_rates,
    seconds_at,
)

REPO = Path(__file__).resolve().parent.parent
VG_CONFIG = REPO / "configs" / "vanishing_gradient.yaml"
DEFAULT_OUT = REPO / "benchmarks" / "results" / "engine.json"
DEFAULT_REPS = {"engine": 5, "numpy": 3, "naive": 2, "end_to_end": 2, "matmul": 5}
QUICK_REPS = {"engine": 2, "numpy": 1, "naive": 1, "end_to_end": 1, "matmul": 3}
ROUND_MATMUL_REPS = 3  # timings of the matmul rate before each engine round (the first sample takes "matmul")
QUICK_ITERATIONS = 200  # --quick: a smoke run of the harness, not a measurement
WARMUP_ITERATIONS = 20  # untimed first engine cell: process-wide TF and MLflow start-up stays out of the medians
MEMORY_CELLS, MEMORY_ITERATIONS = 30, 200  # --memory: cells in one process, iterations per cell
QUICK_MEMORY_CELLS, QUICK_MEMORY_ITERATIONS = 9, 50
SEED = 0

# Issue 5's targets, and issue 18's tighter one for the bound: (key, label, limit, "<=" or ">=").
TARGETS = {
    "engine_over_bound": ("engine / arithmetic bound (issue 5)", 1.5, "<="),
    "engine_over_bound_18": ("engine / arithmetic bound (issue 18)", 1.2, "<="),
    "numpy_over_engine": ("NumPy (float64) / engine", 2.0, ">="),
    "naive_over_engine": ("naive Keras / engine", 15.0, ">="),
    "logging_share": ("MLflow logging share of engine time", 0.05, "<="),
    "end_to_end_over_budget": ("VG study end to end / (6 x engine + 15 s)", 1.0, "<="),
    "memory_growth": ("peak RSS after N cells / after 3", 1.10, "<="),
    "time_drift": ("per-cell time, last 3 / first 3 cells", 1.10, "<="),
}


# --- small helpers -------------------------------------------------------------------------


def spread(values: list[float]) -> dict:
    """Median, min, max and the raw values: what every timed quantity is reported as."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "values": values}


def check(key: str, measured: float) -> dict:
    """One target: its label, limit, the measured value and PASS/FAIL."""
    label, limit, op = TARGETS[key]
    ok = measured <= limit if op == "<=" else measured >= limit
    return {"key": key, "label": label, "measured": measured, "limit": limit, "op": op, "pass": bool(ok)}


def machine() -> dict:
    """Where and when: CPUs, load average now, library versions."""
    from study.store.provenance import versions

    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "load_average": list(os.getloadavg()),
        "python": platform.python_version(),
        "versions": versions(),
    }


def require_data_dir() -> None:
    """The benchmark never downloads: $STUDY_DATA_DIR must name the MNIST IDX directory."""
    if not os.environ.get("STUDY_DATA_DIR"):
        raise SystemExit("set STUDY_DATA_DIR to the directory holding the MNIST IDX files")


def merge_json(path: Path, section: str, payload: dict) -> None:
    """Write one mode's results into its section of the JSON file, keeping the other sections."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = json.loads(path.read_text()) if path.exists() else {}
    doc[section] = payload
    path.write_text(json.dumps(doc, indent=1))


def fmt_value(key: str, v: float) -> str:
    return f"{100 * v:.1f} %" if key == "logging_share" else f"{v:.2f} x"


def print_targets(targets: list[dict], second: list[dict] | None = None) -> None:
    """The PASS/FAIL lines; `second`: the same targets for the cached-graph engine, as a second column."""
    head = "  new graph        cached graph" if second else "  measured"
    print(f"\n{'target':<46}{'limit':<12}{head}")
    others = {t["key"]: t for t in second or []}
    for t in targets:
        line = f"  {t['label']:<44}{t['op']} {fmt_value(t['key'], t['limit']):<9}"
        for x in [t] + ([others[t["key"]]] if t["key"] in others else []):
            line += f"{fmt_value(x['key'], x['measured']):>10} {'PASS' if x['pass'] else 'FAIL'}  "
        print(line.rstrip())


# --- our engine ----------------------------------------------------------------------------


def protocol_settings(activation: str, init: str, iterations: int, diagnostics_every: int, steps_per_call: int | None):
    """The course's protocol as a cell's Settings."""
    from study.config import Settings

    return Settings.model_validate(
        {
            "data": {"name": "mnist"},
            "model": {"hidden": list(LAYERS[1:-1]), "activation": activation, "initializer": init},
            "optimizer": {"name": "sgd", "lr": LEARNING_RATE},
            "train": {
                "iterations": iterations,
                "batch_size": BATCH,
                "sampling": "with_replacement",
                "eval_every": EVAL_EVERY,
                "eval_train": "batch",
                "diagnostics_every": diagnostics_every,
                "steps_per_call": steps_per_call,
            },
        }
    )


class PhaseTimer:
    """Callback that timestamps the engine's phases: set-up, first graph call, each chunk."""

    def __init__(self):
        self.marks: list[float] = []

    def set_model(self, model) -> None:
        pass

    def on_train_begin(self, logs=None) -> None:
        self.marks.append(time.perf_counter())

    def on_epoch_end(self, epoch, logs=None) -> None:
        pass

    def on_chunk_end(self, records) -> None:
        self.marks.append(time.perf_counter())

    def on_train_end(self, logs=None) -> None:
        pass


class Tracking:
    """A throwaway SQLite MLflow store in a temp dir, one run per timed cell, one background writer."""

    def __init__(self):
        from study.store.runs import Store
        from study.store.writer import BackgroundWriter

        self.tmp = tempfile.TemporaryDirectory(prefix="bench-mlflow-")
        self.store = Store(f"sqlite:///{Path(self.tmp.name) / 'mlflow.db'}")
        self.exp_id = self.store.experiment_id("engine-benchmark")
        self.writer = BackgroundWriter()

    def new_run(self) -> str:
        return self.store.client.create_run(self.exp_id).info.run_id

    def close(self) -> None:
        self.writer.flush()
        self.tmp.cleanup()


def drop_cached_graphs() -> None:
    """Make the next cell build and trace anew: empty the engine's graph cache (private) and Keras's session.

    Outside any timer. The engine keeps one traced graph per model structure (`study.engine.train._engines`);
    there is no public way to empty it, so this reaches in, and does nothing where no cache exists.
    """
    import gc

    import study.engine.train
    from study.engine.backend import keras

    cache = getattr(study.engine.train, "_engines", None)
    if cache is not None:
        cache.clear()
    keras.backend.clear_session()
    gc.collect()


def engine_cell(settings, data, tracking: Tracking | None, new_graph: bool, trainer=None) -> dict:
    """One timed cell of our engine: from before train_and_evaluate to after the writer's flush.

    `new_graph`: empty the graph cache first (untimed), so the cell pays model build and tracing.
    `trainer`: train in that training process (study/run/trainer.py), as `study run` does, the
    callbacks (the MLflow logging) here; its graph is cached after the first cell.
    """
    from study.engine.train import train_and_evaluate
    from study.run.metrics import MetricLogger
    from study.run.trainer import DataSource, Job

    if new_graph:
        drop_cached_graphs()
    logger = timer = None
    callbacks = []
    if tracking is not None:
        logger, timer = MetricLogger(tracking.store, tracking.new_run(), tracking.writer), PhaseTimer()
        callbacks = [logger, timer]
    c0, t0 = time.process_time(), time.perf_counter()
    if trainer is not None:
        summary = trainer.train(Job(settings, SEED, DataSource.of(settings.data)), callbacks)
    else:
        summary = train_and_evaluate(settings, SEED, data, callbacks=callbacks)
    t_trained = time.perf_counter()
    if tracking is not None:
        tracking.writer.flush()
    t1 = time.perf_counter()
    out = {"seconds": t1 - t0, "cpu_seconds": time.process_time() - c0, "final_test_acc": summary.final_test_acc}
    if tracking is not None:
        out["logging_seconds"] = logger.seconds + (t1 - t_trained)
        out["phases"] = phases(t0, timer.marks, t1)
        tracking.store.end(logger.run_id)
    return out


def phases(t0: float, marks: list[float], t1: float) -> dict:
    """Set-up (clear, seed, build), first graph call (trace + initial eval), training chunks, tail."""
    chunks = np.diff(marks[1:]).tolist()
    return {"setup": marks[0] - t0, "first_call": marks[1] - marks[0], "chunks": chunks, "tail": t1 - marks[-1]}


def measure_engine(settings, data, reps: int, before_round=lambda: None) -> dict:
    """Warm-up, then `reps` rounds of: logged cell on a new graph, logged cell on the cached graph,
    callback-free cell on a new graph, logged cell on the cached graph of a training process (as
    `study run` trains; interleaved, so drift in machine load hits all four alike). `before_round`
    runs before each round, untimed (per_cell samples the matmul rate there)."""
    from study.run.trainer import Trainer

    tracking = Tracking()
    try:
        warm = settings.model_copy(
            update={
                "train": settings.train.model_copy(update={"iterations": WARMUP_ITERATIONS, "steps_per_call": None})
            }
        )
        warmup = engine_cell(warm, data, tracking, new_graph=True)["seconds"]
        trainer = Trainer("exact")
        engine_cell(warm, data, tracking, new_graph=False, trainer=trainer)  # its start-up, untimed
        cold, cached, bare, elsewhere = [], [], [], []
        for _ in range(reps):
            before_round()
            cold.append(engine_cell(settings, data, tracking, new_graph=True))
            cached.append(engine_cell(settings, data, tracking, new_graph=False))
            bare.append(engine_cell(settings, data, None, new_graph=True))
            elsewhere.append(engine_cell(settings, data, tracking, new_graph=False, trainer=trainer))
        trainer.close()
    finally:
        tracking.close()
    return {
        "new_graph": summarize_logged(cold),
        "cached_graph": summarize_logged(cached),
        "trainer_cached_graph": summarize_logged(elsewhere),
        "no_callbacks_seconds": spread([r["seconds"] for r in bare]),
        "no_callbacks_cpu_seconds": spread([r["cpu_seconds"] for r in bare]),
        "warmup_cell_seconds": warmup,
    }


def summarize_logged(logged: list[dict]) -> dict:
    """Medians and ranges of logged engine cells: seconds, logging share, phases."""
    first_chunks = [r["phases"]["chunks"][0] for r in logged if r["phases"]["chunks"]]
    steady = [c for r in logged for c in r["phases"]["chunks"][1:]]
    return {
        "seconds": spread([r["seconds"] for r in logged]),
        "cpu_seconds": spread([r["cpu_seconds"] for r in logged]),
        "logging_share": spread([r["logging_seconds"] / r["seconds"] for r in logged]),
        "logging_seconds": spread([r["logging_seconds"] for r in logged]),
        "final_test_acc": logged[-1]["final_test_acc"],
        "phases_median": {
            "setup": statistics.median(r["phases"]["setup"] for r in logged),
            "first_call": statistics.median(r["phases"]["first_call"] for r in logged),
            "first_chunk": statistics.median(first_chunks) if first_chunks else None,
            "steady_chunk": statistics.median(steady) if steady else None,
            "chunks_per_cell": len(logged[-1]["phases"]["chunks"]),
            "tail": statistics.median(r["phases"]["tail"] for r in logged),
        },
    }


# --- the baselines -------------------------------------------------------------------------


def measure_numpy(data, activation: str, init: str, iterations: int, reps: int, dtype) -> dict:
    """The course's NumPy loop, `reps` times."""
    from benchmarks import numpy_course

    runs, cpu = [], []
    for _ in range(reps):
        c0 = time.process_time()
        runs.append(numpy_course.run_cell(activation, init, SEED, dtype, data, iterations))
        cpu.append(time.process_time() - c0)  # also counts run_cell's untimed dtype conversion (~0.1 s)
    return {
        "seconds": spread([r.seconds for r in runs]),
        "cpu_seconds": spread(cpu),
        "final_test_acc": runs[-1].final_test_accuracy,
        "dtype": np.dtype(dtype).name,
    }


def measure_naive(data, activation: str, iterations: int, reps: int) -> dict:
    """The obvious Keras `fit`, `reps` times (its epoch count follows `iterations`)."""
    from benchmarks import naive_keras

    saved = naive_keras.EPOCHS
    naive_keras.EPOCHS = iterations // naive_keras.STEPS_PER_EPOCH  # only --quick changes it
    try:
        runs = [naive_keras.run_cell(activation, SEED, data) for _ in range(reps)]
    finally:
        naive_keras.EPOCHS = saved
    return {"seconds": spread([r.seconds for r in runs]), "final_test_acc": runs[-1].final_test_accuracy}


# --- mode 1: the per-cell table ------------------------------------------------------------


def load_data():
    """MNIST through the package's loader; the baselines get the same arrays as a tuple."""
    from study.data import load_dataset

    require_data_dir()
    return load_dataset("mnist")


def per_cell(args) -> dict:
    """Measure everything of mode 1 and return the JSON section."""
    reps = QUICK_REPS if args.quick else DEFAULT_REPS
    reps = {
        **reps,
        **{
            k: v
            for k, v in (("engine", args.reps), ("numpy", args.numpy_reps), ("naive", args.naive_reps))
            if v is not None
        },
    }
    iterations = QUICK_ITERATIONS if args.quick else ITERATIONS
    before = machine()
    data = load_data()
    arrays = (data.x_train, data.y_train, data.x_test, data.y_test)
    settings = protocol_settings(args.activation, args.init, iterations, args.diagnostics_every, args.steps_per_call)
    result = {
        "machine_before": before,
        "quick": args.quick,
        "iterations": iterations,
        "activation": args.activation,
        "init": args.init,
        "diagnostics_every": args.diagnostics_every,
        "steps_per_call": args.steps_per_call,
        "reps": reps,
    }
    samples = [matmul_rates(reps["matmul"], args.quick)]
    result["engine"] = measure_engine(
        settings, data, reps["engine"], lambda: samples.append(matmul_rates(ROUND_MATMUL_REPS, args.quick))
    )
    result["bound"] = arithmetic_bound(iterations, samples)
    result["numpy"] = measure_numpy(arrays, args.activation, args.init, iterations, reps["numpy"], np.float64)
    if args.numpy_float32:
        result["numpy_float32"] = measure_numpy(
            arrays, args.activation, args.init, iterations, reps["numpy"], np.float32
        )
    if not args.skip_naive:
        result["naive"] = measure_naive(arrays, args.activation, iterations, reps["naive"])
    result["machine_after"] = machine()
    result["ratios"], result["targets"] = ratios_and_targets(result)
    return result


# a cell that builds and traces its model; one that reuses it; one that reuses it in a training process
ENGINE_VARIANTS = ("new_graph", "cached_graph", "trainer_cached_graph")


def ratios_and_targets(r: dict) -> tuple[dict, dict]:
    """Per engine variant: engine/bound, numpy/engine, naive/engine and logging share (medians), and the targets."""
    ratios, targets = {}, {}
    for variant in ENGINE_VARIANTS:
        e = r["engine"][variant]
        engine = e["seconds"]["median"]
        q = {
            "engine_over_bound": engine / r["bound"]["seconds"],
            "engine_over_bound_18": engine / r["bound"]["seconds"],
            "engine_over_bound_at_peak": engine / r["bound"]["seconds_at_peak"],
            "numpy_over_engine": r["numpy"]["seconds"]["median"] / engine,
            "logging_share": e["logging_share"]["median"],
            "engine_over_round_bound": round_ratios(e["seconds"]["values"], r),
        }
        if "naive" in r:
            q["naive_over_engine"] = r["naive"]["seconds"]["median"] / engine
        ratios[variant] = q
        keys = ["engine_over_bound", "engine_over_bound_18", "numpy_over_engine", "naive_over_engine", "logging_share"]
        targets[variant] = [check(k, q[k]) for k in keys if k in q]
    cold = r["engine"]["new_graph"]["seconds"]["median"]
    ratios["logging_share_by_difference"] = (cold - r["engine"]["no_callbacks_seconds"]["median"]) / cold
    return ratios, targets


def round_ratios(seconds: list[float], r: dict) -> dict:
    """Each round's cell against the bound at the rate sampled just before that round (not a target:
    it shows how far the machine's speed moved during the run; the targets use the run's best rate)."""
    rounds = r["bound"]["samples"][1:]
    return spread([t / seconds_at(r["iterations"], rates) for t, rates in zip(seconds, rounds)])


def fmt_spread(s: dict) -> str:
    return f"{s['median']:9.3f}  {s['min']:8.3f} - {s['max']:<8.3f}{len(s['values']):4d}"


def print_per_cell(r: dict) -> None:
    """The table of mode 1."""
    b, e = r["bound"], r["engine"]
    print(
        f"\nengine benchmark: MNIST 60000/10000, dense {'-'.join(map(str, LAYERS))} {r['activation']}/{r['init']}, "
        f"SGD {LEARNING_RATE}, batch {BATCH} with replacement, {r['iterations']} iterations, "
        f"test set every {EVAL_EVERY}" + ("  [--quick: smoke run, not a measurement]" if r["quick"] else "")
    )
    print(
        f"machine: {r['machine_before']['cpus']} CPUs, load average {fmt_load(r['machine_before'])} before, "
        f"{fmt_load(r['machine_after'])} after"
    )
    print(f"\n{'seconds per cell':<42}{'median':>9}  {'min - max':^19}{'reps':>4}  test acc  cpu s")
    rows = [
        ("engine + MLflow, new graph (build+trace)", e["new_graph"], e["new_graph"]["final_test_acc"]),
        ("engine + MLflow, cached graph", e["cached_graph"], e["cached_graph"]["final_test_acc"]),
        (
            "in a trainer + MLflow, cached (cpu here)",
            e["trainer_cached_graph"],
            e["trainer_cached_graph"]["final_test_acc"],
        ),
        (
            "engine, new graph, no callbacks",
            {"seconds": e["no_callbacks_seconds"], "cpu_seconds": e["no_callbacks_cpu_seconds"]},
            None,
        ),
        ("NumPy course loop (float64)", r["numpy"], r["numpy"]["final_test_acc"]),
    ]
    if "numpy_float32" in r:
        rows.append(("NumPy course loop (float32)", r["numpy_float32"], r["numpy_float32"]["final_test_acc"]))
    if "naive" in r:
        rows.append(("naive Keras fit + MLflow callback", r["naive"], r["naive"]["final_test_acc"]))
    for label, m, acc in rows:
        cpu = f"{m['cpu_seconds']['median']:7.2f}" if "cpu_seconds" in m else ""
        print(f"  {label:<40}{fmt_spread(m['seconds'])}  {'' if acc is None else f'{acc:.4f}':<8}{cpu}")
    print(f"  {'arithmetic bound (dominant-shape rate)':<40}{b['seconds']:9.3f}")
    print(f"  {'arithmetic bound (peak rate)':<40}{b['seconds_at_peak']:9.3f}")
    rates = b["rates_gflops"]
    print(
        f"\nbound: {b['flops']['total'] / 1e9:.1f} GFLOP ({b['flops']['train'] / 1e9:.1f} training, "
        f"{b['flops']['eval'] / 1e9:.1f} in {b['flops']['eval_points']} evals) / {b['rate_used_gflops']:.1f} GFLOP/s"
    )
    per = spread([dominant_rate(s) for s in b["samples"]])
    print(
        f"float32 matmul GFLOP/s (best of {len(b['samples'])} samples, one before the engine rounds and one before "
        f"each): 10000x784@784x40 tf {rates['tf_dominant']:.1f}, numpy {rates['numpy_dominant']:.1f};  "
        f"2048^2 tf {rates['tf_square']:.1f}, numpy {rates['numpy_square']:.1f}"
    )
    print(
        f"dominant-shape rate per sample: median {per['median']:.1f} [{per['min']:.1f}-{per['max']:.1f}] GFLOP/s; "
        "engine / the bound at its own round's rate: "
        + ", ".join(
            f"{v.replace('_', ' ')} {fmt_ratio(r['ratios'][v]['engine_over_round_bound'])}" for v in ENGINE_VARIANTS
        )
    )
    for variant in ENGINE_VARIANTS:
        ph = e[variant]["phases_median"]
        print(
            f"engine phases, {variant.replace('_', ' ')} (median s): set-up {ph['setup']:.3f}, "
            f"first graph call {ph['first_call']:.3f}, first chunk {ph['first_chunk'] or 0:.3f}, "
            f"later chunks {ph['steady_chunk'] or 0:.3f} each x {max(ph['chunks_per_cell'] - 1, 0)}, "
            f"tail (summary + flush) {ph['tail']:.3f}"
        )
    print(
        f"warm-up cell ({WARMUP_ITERATIONS} iterations, untimed, first in the process): "
        f"{e['warmup_cell_seconds']:.2f} s"
    )
    q = r["ratios"]
    for variant in ENGINE_VARIANTS:
        print(
            f"logging, {variant.replace('_', ' ')}: {1000 * e[variant]['logging_seconds']['median']:.1f} ms on the "
            f"training thread + flush wait; engine / bound at peak rate {q[variant]['engine_over_bound_at_peak']:.2f} x"
        )
    print(
        f"engine new graph, logged - no callbacks = {100 * q['logging_share_by_difference']:+.1f} % of engine time "
        f"(difference of medians; includes the writer thread's CPU; noisy)"
    )
    print_targets(r["targets"]["new_graph"], r["targets"]["cached_graph"])
    print("\nthe same targets, the engine in a training process as `study run` trains (cached graph):")
    print_targets(r["targets"]["trainer_cached_graph"])


def fmt_ratio(s: dict) -> str:
    return f"{s['median']:.2f} x [{s['min']:.2f}-{s['max']:.2f}]"


def fmt_load(m: dict) -> str:
    return " ".join(f"{v:.2f}" for v in m["load_average"])


# --- mode 2: end to end --------------------------------------------------------------------


def study_command() -> list[str]:
    """The `study` console script of this interpreter's environment."""
    script = Path(sys.executable).parent / "study"
    return [str(script)] if script.exists() else [sys.executable, "-m", "study.cli"]


def vg_overrides(quick: bool) -> list[str]:
    return [f"train.iterations={QUICK_ITERATIONS}"] if quick else []


def end_to_end_once(overrides: list[str]) -> dict:
    """`study run VG --rerun --quiet` in a fresh temp dir (fresh store), timed from process start to exit."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        # a copy of the study file in the temp dir: its project, so its store, is the temp dir
        config = Path(tmp) / VG_CONFIG.name
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
    from study.studyfile import load_study

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
    from study.engine.train import train_and_evaluate
    from study.grid import expand
    from study.run.metrics import MetricLogger
    from study.studyfile import load_study

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


# --- command line --------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.engine", description=__doc__.splitlines()[0])
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--end-to-end", action="store_true", help="time `study run configs/vanishing_gradient.yaml`")
    mode.add_argument("--memory", action="store_true", help="RSS and per-cell time over many cells in one process")
    p.add_argument("--quick", action="store_true", help=f"smoke run: {QUICK_ITERATIONS} iterations, fewer reps")
    p.add_argument(
        "--reps",
        type=int,
        default=None,
        help="engine cells (default 5), or end-to-end runs with --end-to-end (default 2)",
    )
    p.add_argument("--numpy-reps", type=int, default=None, help="NumPy cells (default 3)")
    p.add_argument("--naive-reps", type=int, default=None, help="naive Keras cells (default 2)")
    p.add_argument("--skip-naive", action="store_true", help="leave out naive Keras (~30-50 s a cell)")
    p.add_argument("--numpy-float32", action="store_true", help="also time the NumPy loop in float32")
    p.add_argument("--activation", default="sigmoid", help="activation of the timed cell (default sigmoid)")
    p.add_argument("--init", default="xavier", help="initializer of the timed cell (default xavier)")
    p.add_argument(
        "--diagnostics-every",
        type=int,
        default=0,
        help="engine's per-layer diagnostics period; 0 (default) = off, as the course's loop",
    )
    p.add_argument("--steps-per-call", type=int, default=None, help="engine chunk length (default: the engine's)")
    p.add_argument("--cells", type=int, default=None, help="--memory: cells to run (default 30)")
    p.add_argument("--out", default=str(DEFAULT_OUT), help=f"JSON file (default {DEFAULT_OUT.relative_to(REPO)})")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.end_to_end:
        section, result, show = "end_to_end", end_to_end(args), print_end_to_end
    elif args.memory:
        section, result, show = "memory", memory(args), print_memory
    else:
        section, result, show = "per_cell", per_cell(args), print_per_cell
    show(result)
    merge_json(Path(args.out), section, result)
    print(f"\nwrote section {section!r} of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
