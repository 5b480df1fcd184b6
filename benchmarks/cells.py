"""The timed cells of the per-cell benchmark: our engine (logged, bare, in a training process), the
course's NumPy loop and naive Keras, all on the course's protocol, and the run sizes."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.bound import BATCH, EVAL_EVERY, LAYERS, LEARNING_RATE
from benchmarks.record import require_data_dir, spread

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "benchmarks" / "results" / "per_cell.json"
DEFAULT_REPS = {"engine": 5, "numpy": 3, "naive": 2, "matmul": 5}
QUICK_REPS = {"engine": 2, "numpy": 1, "naive": 1, "matmul": 3}
ROUND_MATMUL_REPS = 3  # timings of the matmul rate before each engine round (the first sample takes "matmul")
QUICK_ITERATIONS = 200  # --quick: a smoke run of the harness, not a measurement
WARMUP_ITERATIONS = 20  # untimed first engine cell: process-wide TF and MLflow start-up stays out of the medians
SEED = 0

# a cell that builds and traces its model; one that reuses it; one that reuses it in a training process
ENGINE_VARIANTS = ("new_graph", "cached_graph", "trainer_cached_graph")


def protocol_settings(activation: str, init: str, iterations: int, diagnostics_every: int, steps_per_call: int | None):
    """The course's protocol as a cell's Settings."""
    from study.spec.settings import Settings

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

    Outside any timer. The engine keeps one traced graph per model structure (`study.engine.training_loop._engines`);
    there is no public way to empty it, so this reaches in, and does nothing where no cache exists.
    """
    import gc

    import study.engine.training_loop
    from study.engine.backend import keras

    cache = getattr(study.engine.training_loop, "_engines", None)
    if cache is not None:
        cache.clear()
    keras.backend.clear_session()
    gc.collect()


def engine_cell(settings, data, tracking: Tracking | None, new_graph: bool, trainer=None) -> dict:
    """One timed cell of our engine: from before train_and_evaluate to after the writer's flush.

    `new_graph`: empty the graph cache first (untimed), so the cell pays model build and tracing.
    `trainer`: train in that training process (study/execution/trainer.py), as `study run` does, the
    callbacks (the MLflow logging) here; its graph is cached after the first cell.
    """
    from study.engine.training_loop import train_and_evaluate
    from study.execution.metrics import MetricLogger
    from study.execution.trainer import DataSource, Job

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
    from study.execution.trainer import Trainer

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


def load_data():
    """MNIST through the package's loader; the baselines get the same arrays as a tuple."""
    from study.data.loading import load_dataset

    require_data_dir()
    return load_dataset("mnist")
