"""Validation and test hold-outs (data.validation, data.test_split), on the tiny IDX files and an npz."""

from __future__ import annotations

import numpy as np
import pytest

from study.data.loading import load
from study.data.split import held_indices
from study.errors import DataError
from study.spec.data import DataConfig, HoldoutConfig
from tests.support.data_files import N_TRAIN, encode, make_arrays, write_dir


@pytest.fixture
def idx_dir(tmp_path):
    return write_dir(tmp_path / "idx", encode(make_arrays()), gz=False)


def mnist(d, **kw) -> DataConfig:
    return DataConfig(name="mnist", dir=str(d), **kw)


def test_last_n_for_validation_then_first_train_size(idx_dir):
    full = load(mnist(idx_dir))
    ds = load(mnist(idx_dir, validation={"size": 5}, train_size=7))
    np.testing.assert_array_equal(ds.x_val, full.x_train[N_TRAIN - 5 :])
    np.testing.assert_array_equal(ds.y_val, full.y_train[N_TRAIN - 5 :])
    np.testing.assert_array_equal(ds.x_train, full.x_train[:7])
    np.testing.assert_array_equal(ds.x_test, full.x_test)  # the test set is untouched
    assert ds.digest == full.digest and ds.info.sizes == {"train": 7, "validation": 5, "test": len(full.y_test)}
    assert full.x_val is None and full.y_val is None


def test_first_n(idx_dir):
    full = load(mnist(idx_dir))
    ds = load(mnist(idx_dir, validation={"size": 4, "take": "first"}))
    np.testing.assert_array_equal(ds.y_val, full.y_train[:4])
    np.testing.assert_array_equal(ds.y_train, full.y_train[4:])


def test_fraction_is_seeded_disjoint_and_keeps_order(idx_dir):
    full = load(mnist(idx_dir))
    a = load(mnist(idx_dir, validation={"fraction": 0.25, "seed": 3}))
    b = load(mnist(idx_dir, validation={"fraction": 0.25, "seed": 3}))
    c = load(mnist(idx_dir, validation={"fraction": 0.25, "seed": 4}))
    np.testing.assert_array_equal(a.x_val, b.x_val)
    held = held_indices(N_TRAIN, HoldoutConfig(fraction=0.25, seed=3), "w", "validation")
    assert len(held) == 5 and list(held) == sorted(held)
    assert not np.array_equal(held, held_indices(N_TRAIN, HoldoutConfig(fraction=0.25, seed=4), "w", "validation"))
    np.testing.assert_array_equal(a.x_val, full.x_train[held])
    kept = np.setdiff1d(np.arange(N_TRAIN), held)
    np.testing.assert_array_equal(a.x_train, full.x_train[kept])
    assert len(c.y_val) == 5


def test_test_split_then_validation_from_the_rest(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(30, 3)), np.arange(30) % 2
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y)
    d = DataConfig(
        format="npz", path=str(tmp_path / "d.npz"), test_split={"size": 10}, validation={"size": 5, "take": "first"}
    )
    ds = load(d)
    np.testing.assert_array_equal(ds.x_test, x[20:].astype(np.float32))
    np.testing.assert_array_equal(ds.x_val, x[:5].astype(np.float32))
    np.testing.assert_array_equal(ds.x_train, x[5:20].astype(np.float32))


@pytest.mark.parametrize(
    "validation,needle",
    [
        ({"size": N_TRAIN}, f"data.validation.size={N_TRAIN} but only {N_TRAIN} samples: need at most {N_TRAIN - 1}"),
        ({"fraction": 0.01}, "data.validation.fraction=0.01 of 20 samples holds out 0; need 1..19"),
    ],
)
def test_holdout_too_big_or_too_small(idx_dir, validation, needle):
    with pytest.raises(DataError) as exc:
        load(mnist(idx_dir, validation=validation))
    msg = str(exc.value)
    assert needle in msg and "train-images-idx3-ubyte" in msg and "\n" not in msg


def test_train_size_counts_what_validation_leaves(idx_dir):
    with pytest.raises(DataError, match="train_size=18 but only 15 samples are available after the validation split"):
        load(mnist(idx_dir, validation={"size": 5}, train_size=18))
