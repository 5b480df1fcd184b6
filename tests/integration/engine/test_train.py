"""The training engine (study/engine/training_loop.py) keeps the course's semantics: a frozen BatchNormalization
affine is never touched while a trainable one moves, and a small training set is evaluated whole.

Each test trains a tiny cell on real MNIST images (STUDY_DATA_DIR).
"""

from __future__ import annotations

import numpy as np
import pytest

from study.data.dataset import Dataset
from study.spec.settings import Settings
from tests.support.doubles import Recorder


def train_tiny(mnist_dir, train_size: int, **sections) -> tuple[Recorder, Dataset]:
    """Train a tiny cell on the first `train_size` MNIST images; returns the callback and the data."""
    from study.data.loading import load_dataset
    from study.engine.training_loop import train_and_evaluate

    settings = Settings.model_validate({"data": {"train_size": train_size, "test_size": 100}, **sections})
    data = load_dataset("mnist", str(mnist_dir), train_size, 100)
    keep = Recorder()
    train_and_evaluate(settings, 0, data, callbacks=[keep])
    return keep, data


def bn_layers(model):
    from study.engine.backend import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("train_affine", [False, True])
def test_bn_gamma_beta_frozen_or_trained(mnist_dir, train_affine):
    keep, _ = train_tiny(
        mnist_dir,
        200,
        model={
            "hidden": [16, 8],
            "activation": "sigmoid",
            "initializer": "xavier",
            "batch_norm": "before",
            "bn_train_affine": train_affine,
        },
        optimizer={"name": "sgd", "lr": 0.5},
        train={"iterations": 6, "batch_size": 50, "eval_every": 3},
    )
    for bn in bn_layers(keep.model):
        gamma, beta = np.asarray(bn.gamma.numpy()), np.asarray(bn.beta.numpy())
        assert np.any(np.asarray(bn.moving_mean.numpy()) != 0)  # batch statistics move either way
        if train_affine:
            assert np.any(gamma != 1) and np.any(beta != 0)
        else:
            assert np.all(gamma == 1) and np.all(beta == 0)  # exactly: never touched
            assert not any(v is bn.gamma or v is bn.beta for v in keep.model.trainable_variables)


def test_small_train_set_is_evaluated_whole(mnist_dir):
    keep, data = train_tiny(
        mnist_dir,
        300,
        model={"hidden": [32], "activation": "relu", "initializer": "he"},
        optimizer={"name": "sgd", "lr": 0.1},
        train={"iterations": 20, "batch_size": 100, "eval_every": 10, "eval_train": "auto"},
    )
    accs = np.array([log["train_acc"] for log in keep.epoch_logs])
    assert len(accs) == 3  # iterations 0, 10, 20
    np.testing.assert_allclose(accs * 300, np.round(accs * 300), atol=1e-3)
    probs = np.asarray(keep.model(data.x_train, training=False))
    whole = float(np.mean(probs.argmax(axis=1) == data.y_train))
    assert accs[-1] == pytest.approx(whole, abs=1e-6)  # the whole 300, not the last mini-batch of 100


def test_resident_tensors_use_the_datasets_memory_when_aligned():
    """An aligned array becomes a tensor without a copy; an unaligned one is copied (same values)."""
    import numpy as np

    from study.data.prepare import aligned_empty
    from study.engine.graph import tensor_of

    a = aligned_empty((64, 3), np.float32)
    a[...] = np.arange(192, dtype=np.float32).reshape(64, 3)
    t = tensor_of(a)
    a[0, 0] = 7.0  # the tensor reads the array's memory: the engine never writes a dataset's arrays
    assert float(t[0, 0]) == 7.0
    unaligned = a.ravel()[1:]
    copied = tensor_of(unaligned)
    assert np.array_equal(copied.numpy(), unaligned)
    unaligned[0] = -1.0
    assert float(copied[0]) != -1.0


@pytest.mark.parametrize("eval_train", ["batch", "full"])
def test_epoch_shuffle_chunked_equals_step_by_step(mnist_dir, eval_train):
    """Epoch-shuffled batches, with train_acc on the batch (a training set over 10,000 rows does this by
    default) or on the whole set: the in-graph chunks give exactly the step-by-step reference's values."""
    from study.data.loading import load_dataset
    from study.engine.training_loop import train_and_evaluate

    settings = Settings.model_validate(
        {
            "data": {"train_size": 300, "test_size": 100},
            "model": {"hidden": [20], "batch_norm": "before"},
            "train": {"iterations": 30, "batch_size": 50, "eval_every": 10, "sampling": "epoch_shuffle"}
            | {"eval_train": eval_train},
        }
    )
    data = load_dataset("mnist", str(mnist_dir), 300, 100)
    chunked, stepped = Recorder(), Recorder()
    train_and_evaluate(settings, 0, data, callbacks=[chunked])
    train_and_evaluate(settings, 0, data, callbacks=[stepped], step_by_step=True)
    assert chunked.curves == stepped.curves
    assert len(chunked.curves["train_acc"]) == 4  # iterations 0, 10, 20, 30
