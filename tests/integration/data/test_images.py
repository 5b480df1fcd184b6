"""Your own images in class folders, read by keras.utils.image_dataset_from_directory: tiny PNGs."""

from __future__ import annotations

import numpy as np
import pytest

from study.data.loading import load
from study.errors import DataError
from tests.support.data_files import folders, images, picture


def test_class_folders_in_sorted_order_resized_and_scaled(tmp_path):
    train = folders(tmp_path / "train", {"dog": [200, 210], "cat": [10, 20, 30]})
    test = folders(tmp_path / "test", {"dog": [220], "cat": [40]})
    ds = load(images(train, test))
    assert ds.class_names == ("cat", "dog") and ds.num_classes == 2 and ds.kind == "images"
    assert ds.x_train.shape == (5, 4, 4, 3) and ds.input_shape == (4, 4, 3) and ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(ds.y_train, [0, 0, 0, 1, 1])  # file order within each class, no shuffling
    np.testing.assert_allclose(ds.x_train[:, 0, 0, 0], np.array([10, 20, 30, 200, 210]) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, [0, 1])
    again = load(images(train, test))
    assert again.digest == ds.digest and len(ds.digest) == 16


def test_grayscale_and_digest_follows_the_pixels(tmp_path):
    train = folders(tmp_path / "a", {"x": [1, 2], "y": [3, 4]})
    ds = load(images(train, color_mode="grayscale", image_size=[2, 3]))
    assert ds.x_train.shape == (3, 2, 3, 1) and ds.x_test.shape == (1, 2, 3, 1)
    picture(tmp_path / "a" / "y" / "001.png", 99)
    assert load(images(train, color_mode="grayscale", image_size=[2, 3])).digest != ds.digest


def test_test_folders_must_match(tmp_path):
    train = folders(tmp_path / "train", {"cat": [1], "dog": [2]})
    test = folders(tmp_path / "test", {"cat": [1], "emu": [2]})
    with pytest.raises(DataError, match=r"test: class folders cat, emu differ from .*: 'emu' is in only one of them"):
        load(images(train, test))


def test_undecodable_image_names_the_file(tmp_path):
    train = folders(tmp_path / "train", {"cat": [1, 2], "dog": [3]})
    broken = train / "dog" / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(DataError) as exc:
        load(images(train))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{broken}: not a readable image"), msg
