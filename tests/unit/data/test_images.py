"""Your own images in class folders: the folder problems refused in one line before any image is read.
Reading the images (keras.utils.image_dataset_from_directory) is in tests/integration/data/test_images.py."""

from __future__ import annotations

import warnings

import pytest

from study.data.loading import load
from study.errors import DataError
from tests.support.data_files import folders, images, picture


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


@pytest.mark.parametrize(
    ("size", "needle"),
    [
        ((40, 30), "40×30 = 1,200 pixels, more than the 1,000"),
        ((100, 100), "more than 2,000 pixels, more than the 1,000"),
    ],
)
def test_an_image_past_the_decompression_bomb_limit_is_refused_from_its_header(tmp_path, monkeypatch, size, needle):
    """Pillow's limit, lowered here to 1,000 pixels: within twice of it our check refuses, past it Pillow's."""
    from PIL import Image

    from study.data.images import check_pixels

    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    small, large = tmp_path / "small.png", tmp_path / "large.png"
    Image.new("L", (30, 30)).save(small)
    Image.new("L", size).save(large)
    check_pixels({"a": [small]})
    with warnings.catch_warnings(), pytest.raises(DataError) as refused:
        warnings.simplefilter("error")  # one line: Pillow's own warning is not printed too
        check_pixels({"a": [small], "b": [large]})
    (line,) = str(refused.value).splitlines()
    assert line.startswith(f"{large}: {needle} an image may have")
