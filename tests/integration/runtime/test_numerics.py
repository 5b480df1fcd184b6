"""Numerics: a cell's histories do not depend on the thread count, the worker pool or the process.

Thread pools are fixed when TensorFlow runs its first op, so each configuration trains in its own
fresh process (`python -c`), on real tiny MNIST subsets; the three are started together, once for the
module, and train while the worker pool's test runs. The study mixes a convolutional cell —
whose kernels split their arithmetic by thread count on many CPUs — with a dense one, and a model of the
user's own code (`model.builder`, a custom `model.loss`, and a `train.metrics` every cell records).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from study.engine.backend import configure
from tests.support.paths import REPO

STUDY = """\
study: numerics
base:
  data: {name: mnist, dir: DATA, train_size: 600, test_size: 300}
  optimizer: {name: adam, lr: 0.003}
  train: {iterations: 40, batch_size: 50, eval_every: 10, diagnostics_every: 0, metrics: ["numerics_own.py:top3"]}
architectures:
  conv:
    - {type: conv2d, filters: 12, kernel: 5, padding: 1}
    - {type: activation, name: relu}
    - {type: max_pool, pool: 2}
    - {type: dense, units: 32, activation: relu}
    - {type: dense, units: 10}
grid:
  net:
    - {label: conv, model.arch: conv}
    - {label: dense, model.hidden: [64, 32]}
    - {label: own, model.builder: "numerics_own.py:net", model.args: {width: 32},
       model.loss: "numerics_own.py:cross_entropy", model.task: classification}
seeds: [0]
"""

# The user's own code beside the study file (a module name no other test imports: worker processes import it).
OWN_CODE = """\
import keras


def net(args, input_shape, outputs):
    inputs = keras.Input(input_shape)
    hidden = keras.layers.Dense(args["width"], activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(hidden))


def cross_entropy(y_true, y_pred):
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def top3(y_true, y_pred):
    return keras.metrics.sparse_top_k_categorical_accuracy(y_true, y_pred, k=3)
"""
OWN_CURVES = ("train_top3", "test_top3")
ITERATIONS, EVAL_EVERY = 40, 10  # as in STUDY: 40 training points, 5 eval points (0, 10, ..., 40)

# Train every cell of the study in this process with the given numerics; print the histories as JSON.
TRAIN = """
import json, sys
from study.engine.backend import configure
from study.store.contract import numerics_tags
numerics = configure(sys.argv[2], int(sys.argv[3]))
from study.check.validated_study import load_study
from study.plan.grid import expand
from study.execution.datasets import cell_data
from study.engine.training_loop import train_and_evaluate
from tests.support.doubles import CURVES, Recorder
CURVES = (*CURVES, "train_top3", "test_top3")

out = {"tags": numerics_tags(numerics.settings()), "cells": {}}
for cell in expand(load_study(sys.argv[1])):
    rec = Recorder()
    train_and_evaluate(cell.settings, cell.seed, cell_data(cell), [rec])
    out["cells"][cell.name] = {key: rec.values(key) for key in CURVES}
print(json.dumps(out))
"""


def start_training(study_file: Path, mode: str, threads: int) -> subprocess.Popen:
    """Train every cell in a fresh interpreter with `mode` and `threads`; its output goes to files beside the
    study (a pipe left unread while other processes are awaited could fill and stall it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    stem = study_file.parent / f"{mode}-{threads}"
    with open(f"{stem}.out", "wb") as out, open(f"{stem}.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-c", TRAIN, str(study_file), mode, str(threads)], stdout=out, stderr=err, env=env
        )


def histories(proc: subprocess.Popen, study_file: Path, mode: str, threads: int) -> dict:
    """The histories of every cell (and the numerics tags) that a `start_training` process printed."""
    stem = study_file.parent / f"{mode}-{threads}"
    assert proc.wait(600) == 0, Path(f"{stem}.err").read_text(encoding="utf-8")[-2000:]
    return json.loads(Path(f"{stem}.out").read_text(encoding="utf-8").strip().splitlines()[-1])


@pytest.fixture(scope="module")
def study_file(tmp_path_factory, mnist_dir) -> Path:
    path = tmp_path_factory.mktemp("numerics") / "numerics.yaml"
    path.write_text(STUDY.replace("DATA", str(mnist_dir)), encoding="utf-8")
    (path.parent / "numerics_own.py").write_text(OWN_CODE, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(study_file) -> Iterator[Callable[[str, int], dict]]:
    """The study trained in exact mode with a budget of 1 and of 2 threads and in fast mode with 2, in three
    processes started at once: `trained(mode, threads)` waits for that one's histories."""
    procs = {key: start_training(study_file, *key) for key in (("exact", 1), ("exact", 2), ("fast", 2))}
    done: dict[tuple[str, int], dict] = {}

    def result(mode: str, threads: int) -> dict:
        if (mode, threads) not in done:
            done[mode, threads] = histories(procs[mode, threads], study_file, mode, threads)
        return done[mode, threads]

    yield result
    for proc in procs.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.fixture
def exact(trained) -> dict[int, dict]:
    """The study trained in exact mode with a budget of 1 and of 2 threads."""
    return {threads: trained("exact", threads) for threads in (1, 2)}


def test_a_worker_pool_writes_the_same_histories_and_the_whole_runs(trained, study_file, tmp_cwd):
    """Two worker processes, one store: each cell FINISHED once with every point and artifact, and the same
    values as a cell trained in a process of its own. (First in the module: the pool trains while the
    `trained` processes do.)"""
    from study.check.validated_study import load_study
    from study.execution.driver import run_study
    from study.execution.options import RunOptions
    from study.store.runs import Store
    from tests.support.faults import assert_whole
    from tests.support.runs import Runs

    result = run_study(load_study(study_file), RunOptions(workers=2, progress=False))
    assert [r.status for r in result.results] == ["done", "done", "done"]
    runs = Runs(tmp_cwd, "numerics")
    assert runs.statuses() == {"FINISHED": 3}
    for run in runs.all():
        assert_whole(runs, run, ITERATIONS, EVAL_EVERY)
    store = Store(result.tracking_uri)
    for r in result.results:
        run = store.client.get_run(r.run_id)
        assert run.data.tags["study.numerics"] == "exact"
        assert run.data.tags["study.numerics.intra_op_threads"] == "1"
        for key in ("train_loss", "test_acc", "test_loss", *OWN_CURVES):
            logged = [m.value for m in sorted(store.client.get_metric_history(r.run_id, key), key=lambda m: m.step)]
            assert logged == trained("exact", 1)["cells"][r.cell.name][key], (r.cell.name, key)


def test_exact_histories_do_not_depend_on_the_thread_count(exact):
    one, two = exact[1], exact[2]
    assert one["tags"]["study.numerics.intra_op_threads"] == two["tags"]["study.numerics.intra_op_threads"] == "1"
    assert (one["tags"]["study.numerics.inter_op_threads"], two["tags"]["study.numerics.inter_op_threads"]) == (
        "1",
        "2",
    )
    assert set(one["cells"]) == {"conv · seed 0", "dense · seed 0", "own · seed 0"}
    for name, curves in one["cells"].items():
        assert len(curves["train_loss"]) == ITERATIONS and len(curves["test_acc"]) == len(curves["test_top3"]) == 5
        assert curves == two["cells"][name], name  # exact equality, every value of every curve


def test_fast_mode_uses_the_threads_and_says_so(trained):
    fast = trained("fast", 2)
    assert fast["tags"]["study.numerics"] == "fast"
    assert fast["tags"]["study.numerics.intra_op_threads"] == "2"
    assert fast["tags"]["study.numerics.op_determinism"] == "true"
    assert fast["tags"]["study.numerics.onednn"] in ("on", "off")


def test_configure_is_idempotent_in_one_process():
    first = configure("exact")
    assert configure("exact") is first
