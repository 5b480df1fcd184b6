"""data.validation through the real engine: val_<score> and val_loss at every eval point, their summary
metrics, checked against the trained model's own predictions; the test metrics are unchanged by it."""

from __future__ import annotations

import numpy as np
import pytest

from study.data.loading import load
from study.spec.data import DataConfig
from study.spec.settings import Settings
from study.spec.task import task_of
from tests.support.doubles import Recorder

TRAIN = {"iterations": 30, "batch_size": 20, "eval_every": 10, "diagnostics_every": 0}


def run(settings: Settings, data):
    from study.engine.training_loop import train_and_evaluate

    keep = Recorder()
    return keep, train_and_evaluate(settings, 0, data, callbacks=[keep])


def test_classification_records_validation_accuracy_and_loss(mnist_dir):
    d = DataConfig(name="mnist", dir=str(mnist_dir), train_size=300, test_size=100, validation={"size": 150})
    settings = Settings(data=d, model={"hidden": [16]}, train=TRAIN)
    data = load(d)
    keep, summary = run(settings, data)
    task = task_of(settings)
    assert task.eval_metrics[-2:] == ("val_acc", "val_loss")
    assert set(keep.epoch_logs[0]) == {"step", *task.eval_metrics} and len(keep.epoch_logs) == 4
    probs = np.asarray(keep.model(data.x_val, training=False), np.float64)
    acc = np.mean(probs.argmax(axis=1) == data.y_val)
    loss = -np.mean(np.log(probs[np.arange(len(data.y_val)), data.y_val]))
    assert summary.final_val_acc == pytest.approx(acc, abs=1e-9)  # an exact count ratio over 150 rows
    assert summary.final_val_loss == pytest.approx(loss, rel=1e-4)
    assert summary.best_val_acc == round(max(log["val_acc"] for log in keep.epoch_logs) * 150) / 150
    assert set(summary.metrics()) >= set(task.summary_metrics)
    # the validation rows are not trained on and leave the test metrics alone
    plain = Settings(data=d.model_copy(update={"validation": None}), model={"hidden": [16]}, train=TRAIN)
    d_plain = DataConfig(name="mnist", dir=str(mnist_dir), train_size=300, test_size=100)
    _, without = run(plain, load(d_plain))
    assert without.final_test_acc == summary.final_test_acc  # same first 300 training rows, same seed


def test_regression_records_validation_mae(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(260, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.1 * rng.normal(size=260)
    np.savez(tmp_path / "r.npz", x_train=x, y_train=y)
    d = DataConfig(
        format="npz", path=str(tmp_path / "r.npz"), targets="real", test_split={"size": 60}, validation={"size": 50}
    )
    settings = Settings(data=d, model={"hidden": [8], "loss": "mse"}, train=TRAIN)
    data = load(d)
    keep, summary = run(settings, data)
    pred = np.asarray(keep.model(data.x_val, training=False), np.float64)[:, 0]
    assert summary.final_val_mae == pytest.approx(np.mean(np.abs(pred - data.y_val)), rel=1e-4)
    assert summary.final_val_loss == pytest.approx(np.mean((pred - data.y_val) ** 2), rel=1e-4)
    assert summary.best_val_mae == min(log["val_mae"] for log in keep.epoch_logs)
