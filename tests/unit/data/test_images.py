"""Your own images in class folders: the folder problems refused in one line before any image is read.
Reading the images (keras.utils.image_dataset_from_directory) is in tests/integration/data/test_images.py."""

from __future__ import annotations

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
