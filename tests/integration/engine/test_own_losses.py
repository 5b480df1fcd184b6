"""The engine with your own `model.loss` and `train.metrics`, called in-graph: a loss written as the built-in
one trains the very same numbers, and a metric is measured on every split the task evaluates."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from study.data.dataset import Dataset
from study.engine.training_loop import graph_key, train_and_evaluate
from study.spec.settings import Settings
from tests.support.doubles import Recorder
from tests.support.paths import REPO

ROWS, VAL_ROWS, TEST_ROWS, FEATURES, CLASSES = 40, 20, 30, 16, 4

OWN = """\
import keras
import tensorflow as tf


def cross_entropy(y_true, y_pred):
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def squared_error(y_true, y_pred):
    return tf.reduce_mean(tf.square(y_pred - y_true), axis=-1)


def doubled(y_true, y_pred):
    return 2.0 * squared_error(y_true, y_pred)


def hits(y_true, y_pred):
    return tf.equal(tf.argmax(y_pred, axis=-1, output_type=tf.int32), y_true)
"""


@pytest.fixture(scope="module")
def own(tmp_path_factory):
    folder = tmp_path_factory.mktemp("own")
    (folder / "engine_own_losses.py").write_text(OWN, encoding="utf-8")
    yield f"{folder}/engine_own_losses.py"
    sys.modules.pop("engine_own_losses", None)


def tiny_data(real: bool = False) -> Dataset:
    """Random inputs; class labels, or real targets (one per row)."""
    rng = np.random.default_rng(0)

    def targets(rows: int) -> np.ndarray:
        return rng.random(rows, dtype=np.float32) if real else rng.integers(0, CLASSES, rows).astype(np.int32)

    x = {n: rng.random((rows, FEATURES), dtype=np.float32) for n, rows in (("train", ROWS), ("val", VAL_ROWS))}
    return Dataset(
        name="tiny",
        x_train=x["train"],
        y_train=targets(ROWS),
        x_test=rng.random((TEST_ROWS, FEATURES), dtype=np.float32),
        y_test=targets(TEST_ROWS),
        x_val=x["val"],
        y_val=targets(VAL_ROWS),
        digest="tiny-real" if real else "tiny",
        source="test",
        targets="real" if real else "classes",
        num_classes=0 if real else CLASSES,
    )


def trained(model: dict, data: Dataset, metrics: tuple[str, ...] = ()) -> Recorder:
    settings = Settings.model_validate(
        {
            "data": {"validation": {"size": VAL_ROWS}},
            "model": {"hidden": [8], **model},
            "optimizer": {"name": "adam", "lr": 0.05},
            "train": {
                "iterations": 6,
                "batch_size": 10,
                "eval_every": 3,
                "diagnostics_every": 0,
                "metrics": list(metrics),
            },
        }
    )
    recorder = Recorder()
    train_and_evaluate(settings, 1, data, [recorder])
    return recorder


def test_a_loss_written_as_cross_entropy_trains_the_numbers_of_the_built_in_one_and_metrics_see_every_split(own):
    data = tiny_data()
    built_in = trained({}, data)
    mine = trained({"loss": f"{own}:cross_entropy", "task": "classification"}, data, (f"{own}:hits",))
    for key in ("train_loss", "test_loss", "val_loss", "train_acc", "test_acc", "val_acc"):
        assert mine.values(key) == built_in.values(key), key
    assert len(mine.values("train_loss")) == 6 and len(set(mine.values("train_loss"))) == 6  # it trained
    for split in ("train", "test", "val"):  # `hits` is the accuracy, computed by the user's function
        assert len(mine.values(f"{split}_hits")) == 3  # iterations 0, 3, 6
        np.testing.assert_allclose(mine.values(f"{split}_hits"), mine.values(f"{split}_acc"), rtol=0, atol=1e-6)
    assert mine.values("train_acc") != mine.values("test_acc") != mine.values("val_acc")  # the splits do differ
    assert mine.summary["final_test_hits"] == pytest.approx(mine.summary["final_test_acc"], abs=1e-6)
    assert mine.summary["final_val_hits"] == pytest.approx(mine.summary["final_val_acc"], abs=1e-6)


def test_a_loss_written_as_mse_trains_the_numbers_of_the_built_in_one_and_the_engine_minimises_yours(own):
    data = tiny_data(real=True)
    built_in = trained({"loss": "mse"}, data)
    mine = trained({"loss": f"{own}:squared_error", "task": "regression"}, data)
    for key in ("train_loss", "test_loss", "test_mse", "train_mae", "test_mae", "val_mae"):
        assert mine.values(key) == built_in.values(key), key
    doubled = trained({"loss": f"{own}:doubled", "task": "regression"}, data)
    assert doubled.values("train_loss")[0] == 2 * built_in.values("train_loss")[0]  # the first batch, same weights
    assert doubled.values("test_mae") != built_in.values("test_mae")  # twice the gradient: other weights


def test_a_cached_engine_serves_cells_with_and_without_callbacks_but_not_other_metrics(own):
    def key(**train) -> str:
        return graph_key(Settings.model_validate({"train": {"iterations": 6, "eval_every": 3, **train}}), tiny_data())

    assert key(callbacks=[f"{REPO}/examples/callbacks.py:StopAtAccuracy"]) == key()
    assert key(metrics=[f"{own}:hits"]) != key()
