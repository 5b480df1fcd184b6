"""`data.standardize`: statistics of the training split alone (after the hold-outs and `train_size`),
applied to every split; a constant feature centred; images refused; the statistics on the Dataset."""

from __future__ import annotations

import numpy as np
import pytest

import study.data.standardize as standardize_module
from study.data import tables
from study.data.dataset import Raw
from study.data.prepare import prepare
from study.data.standardize import column_stats, spread
from study.errors import DataError
from study.spec.data import DataConfig


def raw(x_train, y_train, x_test=None, y_test=None, features=()) -> Raw:
    return Raw(
        np.asarray(x_train, np.float64),
        np.asarray(y_train),
        None if x_test is None else np.asarray(x_test, np.float64),
        None if y_test is None else np.asarray(y_test),
        "0" * 16,
        "t.npz",
        "npz",
        "t.npz",
        "t.npz",
        2,
        (),
        features,
    )


def npz(**settings) -> DataConfig:
    return DataConfig(format="npz", path="t.npz", standardize=True, **settings)


def test_the_test_set_is_scaled_by_the_training_statistics_not_its_own():
    x_train = [[10.0, 0.0], [12.0, 100.0], [14.0, 200.0]]  # means 12, 100; stds sqrt(8/3), sqrt(20000/3)
    x_test = [[20.0, 300.0], [22.0, 500.0]]  # means 21, 400: its own statistics would centre it at 0
    data = prepare(raw(x_train, [0, 1, 0], x_test, [1, 0]), npz())
    train_std = np.std(x_train, axis=0)
    expected = (np.asarray(x_test) - [12.0, 100.0]) / train_std
    assert np.allclose(data.x_test, expected, rtol=1e-6)
    assert np.allclose(data.x_train.mean(axis=0), 0, atol=1e-6) and np.allclose(data.x_train.std(axis=0), 1)
    assert data.x_test.mean(axis=0) == pytest.approx([9 / train_std[0], 300 / train_std[1]], rel=1e-6)
    assert data.x_test.dtype == np.float32


def test_validation_and_train_size_rows_stay_out_of_the_statistics():
    x = np.array([[1.0], [2.0], [3.0], [4.0], [1000.0], [-1000.0]])  # the last two are held out
    data = prepare(raw(x, [0, 1, 0, 1, 0, 1], [[5.0]], [0]), npz(validation={"size": 2}, train_size=3))
    assert data.standardization is not None
    assert data.standardization.mean == pytest.approx([2.0])  # rows 1, 2, 3 only
    assert data.standardization.std == pytest.approx([np.std([1.0, 2.0, 3.0])])
    assert data.x_val is not None and data.x_val[:, 0] == pytest.approx(
        [998 / np.std([1, 2, 3]), -1002 / np.std([1, 2, 3])]
    )


def test_a_held_out_test_split_is_not_in_the_statistics():
    x = np.array([[0.0], [2.0], [50.0]])
    data = prepare(raw(x, [0, 1, 0]), npz(test_split={"size": 1}))
    assert data.standardization is not None and data.standardization.mean == pytest.approx([1.0])
    assert data.x_test[0, 0] == pytest.approx(49.0)


def test_a_constant_feature_is_centred_not_divided_by_zero():
    x_train = [[0.1, 1.0], [0.1, 3.0], [0.1, 5.0]]
    data = prepare(raw(x_train, [0, 1, 0], [[0.1, 3.0], [0.7, 3.0]], [1, 0]), npz())
    assert data.standardization is not None and data.standardization.std[0] == 0.0
    assert np.all(np.isfinite(data.x_train)) and np.all(data.x_train[:, 0] == 0.0)
    assert data.x_test[:, 0] == pytest.approx([0.0, 0.6], abs=1e-6)  # centred, in the feature's own units


def test_without_the_setting_inputs_are_as_read():
    x_train = [[10.0, 0.0], [12.0, 100.0]]
    data = prepare(raw(x_train, [0, 1], [[1.0, 2.0]], [1]), DataConfig(format="npz", path="t.npz"))
    assert data.standardization is None and data.info.standardization is None
    assert np.array_equal(data.x_train, np.float32(x_train))


def test_image_arrays_are_refused_in_one_line():
    images = np.zeros((4, 3, 3, 1))
    with pytest.raises(DataError, match=r"t\.npz: data\.standardize scales feature vectors .*\(3, 3, 1\) per sample"):
        prepare(raw(images, [0, 1, 0, 1], images, [0, 1, 0, 1]), npz())


def test_a_csv_records_its_statistics_by_column_name(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("size,weight,label\n1,100,0\n3,300,1\n5,500,0\n")
    data = prepare(
        tables.read(path, None, "label", "classes"),
        DataConfig(format="csv", path=str(path), test_split={"size": 1}, standardize=True),
    )
    assert data.info.standardization == {"feature": ["size", "weight"], "mean": [2.0, 200.0], "std": [1.0, 100.0]}


def test_statistics_over_many_blocks_match_numpy(monkeypatch):
    monkeypatch.setattr(standardize_module, "BLOCK_BYTES", 8 * 3 * 7)  # 7 rows a block
    x = np.random.default_rng(1).normal(5, 3, size=(100, 3)).astype(np.float32)
    mean, std = column_stats(x)
    assert np.allclose(mean, x.astype(np.float64).mean(axis=0), rtol=1e-12)
    assert np.allclose(std, x.astype(np.float64).std(axis=0), rtol=1e-12)


def test_spread_names_the_widest_and_narrowest_varying_features():
    x = np.array([[1.0, 7.0, 0.0, 5.0], [-1.0, 7.0, 10.0, -5.0]])  # stds 1, 0 (constant), 5, 5
    found = spread(x, ("a", "b", "c", "d"))
    assert found is not None and (found.widest, found.narrowest, found.ratio) == ("'c'", "'a'", 5.0)
    assert spread(x[:, :2]) is None  # one varying feature: nothing to compare
    assert spread(np.zeros((2, 2, 2))) is None  # not vectors
