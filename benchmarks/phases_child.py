"""The instrumented children of benchmarks/phases.py: `study run` with every phase timestamped, and the
course's NumPy loop for the same cells.

`python -m benchmarks.phases --child -- run CONFIG …` runs the `study` command with wrappers around
the package's functions (from the outside: a name that another version no longer has is listed as
"not instrumented"), an import timer, and — through HOOK, a sitecustomize on the training
process's path — the same in the training process; `--numpy-child CONFIG` times the NumPy loop.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.util
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

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
    if name == "study.check.validated_study":
        patch(m, "load_study", "validation (study file, grid)")
    elif name == "study.plan.grid":
        patch(m, "expand", "validation (study file, grid)")
    elif name == "study.data.loading":
        patch(m, "load", "data load")
    elif name == "study.check.preflight":
        patch(m, "preflight", "validation (preflight: shapes, sizes, settings)")
    elif name == "study.execution.warmup":
        patch(m, "wait", "waiting for the engine warm-up (TensorFlow import, first trace)")
    elif name == "study.execution.trainer":  # the driver's side of the training process
        patch(m.Trainer, "numerics", "waiting for the trainer's start-up (TensorFlow import)")
        patch(m.Trainer, "train", "cell: training (in the trainer; its callbacks here)")
        patch(m.Trainer, "save_model", "cell: saving the model (in the trainer)")
        patch(m.Trainer, "dataset", "data: waiting for the trainer's load and description")
    elif name == "study.execution.trainer_main":  # the training process itself
        patch(m, "preload_model_saving", "importing MLflow for model saving")
        patch(m, "warm", "first engine started (build and trace go on in a thread)")
        patch(m, "describe_all", "data load and description (before TensorFlow)")
    elif name == "study.store.models":
        patch(m, "package", "cell: packaging the model (MLflow)")
        patch(m, "preload", "model saving's imports")
    elif name == "study.engine.build":
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
    elif name == "study.execution.cell":
        patch(m, "run_cell", "cell: other")
    elif name == "study.execution.metrics":
        for method in ("set_model", "on_chunk_end", "on_train_end"):
            patch(m.MetricLogger, method, "cell: logging")
    elif name == "study.engine.training_loop":
        patch(m.Engine, "__init__", "cell: model build")
        if hasattr(m.Engine, "chunk"):
            m.Engine.chunk = first_call_per_instance("cell: first graph call (trace)", "cell: training", m.Engine.chunk)
        else:
            MISSING.append("Engine.chunk")
        patch(m, "engine_for", "cell: other")
    elif name == "study.execution.parent":
        patch(m, "close_parent", "study end")
    elif name == "study.execution.driver":
        patch(m, "final_table", "final table")
    elif name == "study.reporting.write":
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
    from benchmarks.phases_child import trainer_hook
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
    from study.check.validated_study import load_study
    from study.plan.grid import expand

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
