"""Your own images in class folders, read by keras.utils.image_dataset_from_directory: tiny PNGs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from study.data import load
from study.errors import DataError
from study.spec.data import DataConfig

SIDE = 8


def picture(path: Path, value: int, mode: str = "RGB", size: int = SIDE) -> None:
    """A flat-colour image of `value` in every channel (resizing keeps it exact)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = {"RGB": 3, "L": 1}[mode]
    pixels = np.full((size, size, channels), value, dtype=np.uint8)
    Image.fromarray(pixels[..., 0] if channels == 1 else pixels, mode).save(path)


def folders(root: Path, per_class: dict[str, list[int]]) -> Path:
    for name, values in per_class.items():
        for i, value in enumerate(values):
            picture(root / name / f"{i:03d}.png", value)
    return root


def images(path: Path, test: Path | None = None, **kw) -> DataConfig:
    if test is not None:
        kw["test_path"] = str(test)
    else:
        kw.setdefault("test_split", {"size": 1})
    return DataConfig(format="images", path=str(path), image_size=kw.pop("image_size", [4, 4]), **kw)


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


def test_empty_class_folder_is_one_line(tmp_path):
    train = folders(tmp_path / "train", {"cat": [1], "dog": [2]})
    (train / "emu").mkdir()
    (train / "emu" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError) as exc:
        load(images(train))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{train / 'emu'}: class folder holds no images"), msg


def test_no_class_folders_one_class_and_missing_directory(tmp_path):
    flat = tmp_path / "flat"
    picture(flat / "a.png", 5)
    with pytest.raises(DataError, match="no class folders"):
        load(images(flat))
    with pytest.raises(DataError, match="only one class folder"):
        load(images(folders(tmp_path / "one", {"cat": [1, 2]})))
    with pytest.raises(DataError, match="does not exist \\(data.path\\)"):
        load(images(tmp_path / "nowhere"))


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
