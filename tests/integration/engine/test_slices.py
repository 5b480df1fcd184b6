"""The evaluation's row slices (study/engine/graph.py `EVAL_SLICES`) change speed, not the numbers.

Each model trains twice on the same real MNIST subset — test split evaluated as one pass, then as
two row slices run side by side — and every value the engine hands out must be the same bits.
That is a property of these shapes and the kernels, not of the construction (a row's output may
depend on its slice's size: 16 slices of the protocol's test set changed one test_loss by one ulp),
so these tests guard that the two slices the engine uses keep the one-pass numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from study.engine.graph import SLICE_MIN_ROWS, SLICE_ROW_MULTIPLE, slice_bounds
from tests.support.doubles import Recorder
from tests.support.engine_data import CNN_LAYERS, mnist, regression_table


def test_slice_bounds_cover_the_rows_on_aligned_boundaries():
    for rows in (SLICE_MIN_ROWS, 1500, 10_000, 10_001, 60_000):
        for slices in (2, 3):
            bounds = slice_bounds(rows, slices)
            assert bounds[0] == 0 and bounds[-1] == rows and len(bounds) == slices + 1
            assert all(b % SLICE_ROW_MULTIPLE == 0 for b in bounds[1:-1])
            assert all(a < b for a, b in zip(bounds, bounds[1:]))
    assert slice_bounds(SLICE_MIN_ROWS - 1, 2) == [0, SLICE_MIN_ROWS - 1]  # small: one pass
    assert slice_bounds(10_000, 1) == [0, 10_000]


def everything(keep: Recorder) -> list:
    """Every value handed out: eval-point logs, curves, diagnostics, summary (bar wall time), weights."""
    summary = {k: v for k, v in (keep.summary or {}).items() if k != "wall_time_s"}
    weights = [np.asarray(v.numpy()).tobytes() for v in keep.model.weights]
    return [keep.epoch_logs, keep.curves, keep.diagnostics, summary, weights]


def train_with_slices(monkeypatch, slices: int, settings: dict, data) -> list:
    from study.engine import graph
    from study.engine import training_loop as train
    from study.engine.backend import keras
    from study.spec.settings import Settings

    monkeypatch.setattr(graph, "EVAL_SLICES", slices)
    train._engines.clear()  # the graph is traced with the slice count: build it anew
    keras.backend.clear_session(free_memory=False)  # layer names from 0 again; no gc.collect (0.3 s each here)
    keep = Recorder()
    train.train_and_evaluate(Settings.model_validate(settings), 0, data, callbacks=[keep])
    return everything(keep)


TRAIN = {"iterations": 30, "batch_size": 50, "eval_every": 10, "diagnostics_every": 10}
MODELS = {
    "dense-sigmoid": {"hidden": [40, 20], "activation": "sigmoid", "initializer": "xavier"},
    "batch-norm": {"hidden": [30, 30], "activation": "relu", "initializer": "he", "batch_norm": "before"},
    "cnn": {"layers": CNN_LAYERS},
}


TEST_ROWS = SLICE_MIN_ROWS + 37  # just past the fewest rows the engine slices, with an uneven last slice


@pytest.fixture(scope="module")
def mnist_data(mnist_dir):
    """300 training and TEST_ROWS test images, read once for the three models."""
    return mnist(mnist_dir, 300, TEST_ROWS)


@pytest.mark.parametrize("model", sorted(MODELS))
def test_sliced_evaluation_is_bit_identical_to_one_pass(mnist_data, monkeypatch, model):
    bounds = slice_bounds(TEST_ROWS, 2)
    assert len(bounds) == 3 and bounds[1] != TEST_ROWS - bounds[1]  # two slices, of different sizes
    data = mnist_data
    settings = {"model": MODELS[model], "optimizer": {"name": "sgd", "lr": 0.5}, "train": TRAIN}
    whole = train_with_slices(monkeypatch, 1, settings, data)
    sliced = train_with_slices(monkeypatch, 2, settings, data)
    assert sliced == whole
    logs = whole[0]
    assert len(logs) == 4 and logs[-1]["test_loss"] < logs[0]["test_loss"]  # it trained and was evaluated


def test_sliced_regression_metrics_are_bit_identical(monkeypatch):
    data = regression_table(rows=400, test=3 * SLICE_MIN_ROWS)
    settings = {
        "model": {"hidden": [16], "activation": "tanh", "initializer": "xavier", "loss": "mse"},
        "optimizer": {"name": "adam", "lr": 0.01},
        "train": TRAIN,
    }
    whole = train_with_slices(monkeypatch, 1, settings, data)
    assert train_with_slices(monkeypatch, 3, settings, data) == whole
    assert {"test_mae", "test_mse", "test_loss"} <= set(whole[0][-1])
