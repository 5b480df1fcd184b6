"""Any Keras layer stack, regression heads and losses, early stopping and schedules, through the real engine.

Tiny real data: MNIST subsets (classification) and a regression table the test makes (targets a
known function of the inputs, so a model that learns lowers its error).
"""

from __future__ import annotations

import numpy as np
import pytest

from study.data.dataset import Dataset
from study.spec.settings import Settings
from study.spec.task import task_of
from tests.support.doubles import Recorder
from tests.support.engine_data import CNN_LAYERS, mnist, regression_table


def train(settings: dict, data: Dataset, seed: int = 0):
    from study.engine.training_loop import train_and_evaluate

    keep = Recorder()
    summary = train_and_evaluate(Settings.model_validate(settings), seed, data, callbacks=[keep])
    return keep, summary


def test_a_conv2d_global_pooling_stack_trains_with_stable_names_and_diagnostics(mnist_dir):
    keep, summary = train(
        {
            "model": {"layers": CNN_LAYERS, "initializer": "he"},
            "optimizer": {"name": "adam", "lr": 0.01},
            "train": {"iterations": 40, "batch_size": 20, "eval_every": 10, "diagnostics_every": 20},
        },
        mnist(mnist_dir),
    )
    names = [layer.name for layer in keep.model.layers]
    assert names == [
        "to_image", "conv_1", "act_1", "max_pooling2d_1", "conv_2", "global_average_pooling2d_1",
        "layer_normalization_1", "dense_1", "softmax",
    ]  # fmt: skip
    assert keep.model.get_layer("conv_1").padding == "same" and keep.model.output_shape == (None, 10)
    losses = keep.values("train_loss")
    assert np.mean(losses[-10:]) < np.mean(losses[:10])  # it learns
    assert summary.final_test_acc == keep.values("test_acc")[-1] > 0.15
    for layer in ("conv_1", "conv_2", "dense_1"):  # every kernel layer is diagnosed, the Keras ones too
        assert keep.diagnostics[(f"grad_norm/{layer}", 40)] > 0
    assert (("act_mean/act_1", 40)) in keep.diagnostics


def test_keras_layer_kernels_follow_the_studys_initializer_and_seed(mnist_dir):
    """The engine draws a Keras Conv2D's kernel from model.initializer at the cell's seed."""
    settings = {
        "model": {"layers": CNN_LAYERS, "initializer": "gauss", "init_std": 0.01},
        "train": {"iterations": 1, "batch_size": 20, "eval_every": 1, "diagnostics_every": 0},
    }
    data = mnist(mnist_dir)
    first = {k: v for k, v in train(settings, data, seed=0)[0].initial.items() if "conv_1" in k and "kernel" in k}
    again = {k: v for k, v in train(settings, data, seed=0)[0].initial.items() if "conv_1" in k and "kernel" in k}
    other = {k: v for k, v in train(settings, data, seed=1)[0].initial.items() if "conv_1" in k and "kernel" in k}
    (key,) = first
    assert np.array_equal(first[key], again[key]) and not np.array_equal(first[key], other[key])
    assert abs(float(np.std(first[key])) - 0.01) < 0.003


@pytest.mark.parametrize("loss", ["mse", "mae", "mape", "msle"])
def test_regression_head_loss_and_metrics(loss):
    data = regression_table()
    if loss == "msle":  # log errors need targets above -1
        data = Dataset("table", data.x_train, np.abs(data.y_train), data.x_test, np.abs(data.y_test), "t", "test")
    keep, summary = train(
        {
            "model": {"hidden": [16], "activation": "tanh", "initializer": "xavier", "loss": loss},
            "optimizer": {"name": "adam", "lr": 0.01},
            "train": {"iterations": 200, "batch_size": 40, "eval_every": 20, "diagnostics_every": 0},
        },
        data,
    )
    task = task_of(Settings.model_validate({"model": {"loss": loss}}))
    assert task.eval_metrics == ("train_mae", "test_mae", "test_loss", "test_mse")
    assert keep.model.layers[-1].name == "dense_2" and keep.model.output_shape == (None, 1)  # linear head
    assert set(keep.epoch_logs[0]) == {"step", *task.eval_metrics}
    mae = [log["test_mae"] for log in keep.epoch_logs]
    assert (
        mae[-1] < (0.5 if loss in ("mse", "mae") else 0.9) * mae[0]
    )  # it learns (mape and msle weigh errors unevenly)
    assert set(summary.values) == {
        "final_test_mae",
        "best_test_mae",
        "final_train_mae",
        "final_test_loss",
        "final_test_mse",
    }
    assert summary.best_test_mae == min(mae) and summary.final_test_mae == mae[-1]
    # the recorded loss is the loss asked for, computed by hand from the trained model's predictions
    pred = np.asarray(keep.model(data.x_test, training=False))[:, 0].astype(np.float64)
    y = data.y_test.astype(np.float64)
    by_hand = {
        "mse": lambda: np.mean((pred - y) ** 2),
        "mae": lambda: np.mean(np.abs(pred - y)),
        "mape": lambda: 100 * np.mean(np.abs((y - pred) / np.maximum(np.abs(y), 1e-7))),
        "msle": lambda: np.mean((np.log1p(np.maximum(pred, 0)) - np.log1p(y)) ** 2),
    }[loss]()
    assert summary.final_test_loss == pytest.approx(by_hand, rel=1e-4)
    assert summary.final_test_mse == pytest.approx(np.mean((pred - y) ** 2), rel=1e-4)


def test_regression_with_several_targets_and_a_keras_dense_head():
    data = regression_table(targets=3)
    keep, summary = train(
        {
            "model": {"layers": [{"type": "Dense", "units": 12, "activation": "relu"}, {"type": "Dense", "units": 3}],
                      "loss": "mse"},
            "optimizer": {"name": "adam", "lr": 0.01},
            "train": {"iterations": 100, "batch_size": 40, "eval_every": 50, "diagnostics_every": 50},
        },
        data,
    )  # fmt: skip
    assert keep.model.output_shape == (None, 3) and [layer.name for layer in keep.model.layers] == [
        "dense_1",
        "dense_2",
    ]
    assert summary.final_test_mse < keep.epoch_logs[0]["test_mse"]


def test_a_loss_that_does_not_fit_the_labels_is_refused(mnist_dir):
    with pytest.raises(ValueError, match="regression loss and needs real-valued targets"):
        train({"model": {"loss": "mse"}, "train": {"iterations": 2, "eval_every": 1}}, mnist(mnist_dir))
    with pytest.raises(ValueError, match="cross_entropy needs class labels"):
        train({"train": {"iterations": 2, "eval_every": 1, "batch_size": 10}}, regression_table())


def test_early_stopping_ends_the_cell_at_the_eval_point_and_reports_there(mnist_dir):
    base = {
        "model": {"hidden": [20]},
        "optimizer": {"name": "sgd", "lr": 5.0},  # far too large: test loss stops improving at once
        "train": {"iterations": 200, "batch_size": 20, "eval_every": 5, "diagnostics_every": 0},
    }
    data = mnist(mnist_dir)
    full_keep, _ = train(base, data)
    stop = {"metric": "test_loss", "patience": 3}
    keep, summary = train({**base, "train": {**base["train"], "early_stopping": stop}}, data)
    losses = [log["test_loss"] for log in full_keep.epoch_logs]
    # where the stopper should stop, from the full run's own curve
    best, waited, expected = float("inf"), 0, None
    for k, value in enumerate(losses):
        best, waited = (value, 0) if value < best else (best, waited + 1)
        if waited == 3:
            expected = 5 * k
            break
    assert expected is not None and summary.stopped_at == expected == summary.iterations
    assert [log["step"] for log in keep.epoch_logs][-1] == expected
    assert [v for s, v in keep.curves["test_loss"]] == losses[: expected // 5 + 1]  # same numbers, then nothing
    assert keep.curves["train_loss"][-1][0] == expected
    assert keep.summary["final_test_loss"] == losses[expected // 5]


def test_a_schedule_cell_reuses_no_graph_of_another_learning_rate(mnist_dir):
    """With a schedule the rates are traced into the graph: two lr values are two engines, and each
    equals a freshly built one."""
    from study.engine import training_loop as engine

    data = mnist(mnist_dir, 100, 50)

    def cell(lr):
        return {
            "model": {"hidden": [10]},
            "optimizer": {"name": "sgd", "lr": lr, "schedule": {"name": "cosine", "decay_steps": 20}},
            "train": {"iterations": 20, "batch_size": 20, "eval_every": 10, "diagnostics_every": 0},
        }

    a = train(cell(0.1), data)[1].final_test_loss
    b = train(cell(0.5), data)[1].final_test_loss
    engine._engines.clear()
    assert train(cell(0.5), data)[1].final_test_loss == b != a


def test_a_validation_split_is_evaluated_at_every_eval_point_and_can_stop_the_cell(mnist_dir):
    settings = Settings.model_validate(
        {
            "data": {"train_size": 300, "test_size": 100, "validation": {"fraction": 0.2}},
            "model": {"hidden": [20]},
            "optimizer": {"name": "sgd", "lr": 0.5},
            "train": {"iterations": 60, "batch_size": 20, "eval_every": 10, "diagnostics_every": 0,
                      "early_stopping": {"metric": "val_loss", "patience": 2}},
        }
    )  # fmt: skip
    from study.execution.datasets import dataset_for

    data = dataset_for(settings.data, str(mnist_dir))
    assert data.x_val is not None and len(data.y_val) == 12_000  # 20 % of the 60,000, held out before the 300
    task = task_of(settings)
    assert task.eval_metrics[-2:] == ("val_acc", "val_loss") and "final_val_acc" in task.summary_metrics
    from study.engine.training_loop import train_and_evaluate

    keep = Recorder()
    summary = train_and_evaluate(settings, 0, data, callbacks=[keep])
    model = keep.model
    probs = np.asarray(model(data.x_val, training=False))
    val_acc = float(np.mean(np.argmax(probs, -1) == data.y_val))
    if summary.stopped_at is None:  # the weights are the cell's last eval point's: recompute it by hand
        assert keep.epoch_logs[-1]["val_acc"] == pytest.approx(val_acc, abs=1e-6)
    assert summary.final_val_acc == keep.epoch_logs[-1]["val_acc"]
    assert set(keep.epoch_logs[0]) == {"step", *task.eval_metrics}
