"""Your own images: a directory with one sub-folder per class, read by Keras's own
``keras.utils.image_dataset_from_directory``.

    flowers/            data.path: flowers, data.test_path: flowers_test (same class folders)
      daisy/  001.jpg …   or data.test_split: {fraction: 0.2}
      tulip/  001.png …

Class names are the sub-folders' names, sorted (class 0 is the first); every class folder must
hold at least one image (``.bmp .gif .jpeg .jpg .png``, as Keras reads). Images are decoded,
resized to ``data.image_size`` ([height, width], bilinear) with ``data.color_mode`` channels
(grayscale 1, rgb 3, rgba 4), in file order (no shuffling), and scaled by 1/255. The digest hashes
the decoded, resized arrays. TensorFlow is imported only by this source.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from study.data.dataset import Raw
from study.data.digest import arrays_digest
from study.data.reading import squeezed_message, stamp
from study.errors import DataError

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what image_dataset_from_directory reads


def class_folders(directory: Path, key: str) -> dict[str, list[Path]]:
    """Each class folder's image files (sorted), checking that there are classes and none is empty."""
    folders = sorted(p for p in directory.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DataError(
            f"{directory}: no class folders (data.{key} needs one sub-folder per class, each holding its images)"
        )
    found = {}
    for folder in folders:
        files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise DataError(
                f"{folder}: class folder holds no images ({', '.join(IMAGE_EXTENSIONS)}); remove it or add its images"
            )
        found[folder.name] = files
    if len(found) < 2:
        raise DataError(f"{directory}: only one class folder ({folders[0].name}); a classifier needs two")
    return found


def files_of(directory: Path, key: str) -> list[Path]:
    """Every image file under `directory` (for the cache's stamps)."""
    return [f for files in class_folders(directory, key).values() for f in files]


def read(path: Path, test_path: Path | None, image_size: tuple[int, int], color_mode: str) -> Raw:
    """Decode both directories (the test one must have the same class folders) and hash the arrays."""
    classes = class_folders(path, "path")
    x_train, y_train = _decode(path, classes, image_size, color_mode)
    x_test = y_test = None
    if test_path is not None:
        test_classes = class_folders(test_path, "test_path")
        if list(test_classes) != list(classes):
            extra = sorted(set(test_classes) - set(classes)) or sorted(set(classes) - set(test_classes))
            raise DataError(
                f"{test_path}: class folders {', '.join(test_classes)} differ from {path}'s "
                f"({', '.join(classes)}): {extra[0]!r} is in only one of them"
            )
        x_test, y_test = _decode(test_path, test_classes, image_size, color_mode)
    named = [("x_train", x_train), ("y_train", y_train)]
    if x_test is not None and y_test is not None:
        named += [("x_test", x_test), ("y_test", y_test)]
    digest = arrays_digest(named)
    return Raw(
        x_train,
        y_train,
        x_test,
        y_test,
        digest,
        str(path),
        "images",
        str(path),
        str(test_path or path),
        len(classes),
        tuple(classes),
    )


def check_pixels(classes: dict[str, list[Path]]) -> None:
    """Refuse an image larger than Pillow's decompression-bomb limit (~89 megapixels) from its header
    alone: each image is decoded whole before it is resized, so a 50 kB PNG can take gigabytes."""
    from PIL import Image, UnidentifiedImageError

    limit = Image.MAX_IMAGE_PIXELS or 0
    for files in classes.values():
        for f in files:
            try:
                with warnings.catch_warnings():  # Pillow's warning: our line says it
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    with Image.open(f) as image:
                        width, height = image.size
                size = f"{width}×{height} = {width * height:,} pixels"
            except Image.DecompressionBombError:  # Pillow's own refusal, past twice its limit
                width = height = limit + 1
                size = f"more than {2 * limit:,} pixels"
            except (OSError, UnidentifiedImageError, ValueError):
                continue  # not read here: decoding it reports the file
            if width * height > limit:
                raise DataError(
                    f"{f}: {size}, more than the {limit:,} an image may have (it is decoded whole before "
                    "resizing); shrink it first"
                )


def _decode(directory: Path, classes: dict[str, list[Path]], image_size: tuple[int, int], color_mode: str):
    """All images of a directory as float32 N×H×W×C in [0, 1] and int64 labels, in file order."""
    from study.runtime.tensorflow_setup import keras  # TensorFlow set up the project's one way before its first op

    check_pixels(classes)

    try:
        ds = keras.utils.image_dataset_from_directory(
            str(directory),
            labels="inferred",
            label_mode="int",
            class_names=list(classes),
            color_mode=color_mode,
            batch_size=None,
            image_size=tuple(image_size),
            shuffle=False,
            verbose=False,
        )
        xs, ys = [], []
        for x, y in ds.batch(256).as_numpy_iterator():
            xs.append(x)
            ys.append(y)
    except Exception as exc:  # a file that does not decode: find which, for the one line
        raise DataError(
            _undecodable(directory, classes) or f"{directory}: cannot read the images: {squeezed_message(exc)}"
        ) from exc
    x = np.concatenate(xs).astype(np.float32) / np.float32(255.0)  # decoded 0..255 (resized: not integers)
    return x, np.concatenate(ys).astype(np.int64)


def _undecodable(directory: Path, classes: dict[str, list[Path]]) -> str | None:
    """The first image file TensorFlow cannot decode, as an error line (None when all decode)."""
    from study.runtime.tensorflow_setup import tf

    for files in classes.values():
        for f in files:
            try:
                tf.io.decode_image(tf.io.read_file(str(f)), expand_animations=False)
            except Exception as exc:
                return f"{f}: not a readable image: {squeezed_message(exc)[:200]}"
    return None


def stamps(path: Path, test_path: Path | None) -> tuple:
    """The stamps of every image under the directories, so an edit re-reads them."""
    files = files_of(path, "path") + (files_of(test_path, "test_path") if test_path else [])
    return stamp(files) + ((str(path), os.stat(path).st_mtime_ns),)
