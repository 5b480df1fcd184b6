"""A dataset's sizes and sample shape, for checking a study before anything runs.

MNIST and Fashion-MNIST are sized from their IDX headers alone (no arrays decoded), so a `--dry-run`
stays quick; every other source is read as a cell would read it (cached per process)."""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass

import study.data.idx as idx
from study.data.dataset import KERAS_SOURCE
from study.data.reading import squeezed_message
from study.errors import DataError
from study.spec.data import DataConfig

# keras.datasets' MNIST-format datasets, when no directory is given (nothing downloaded to size them).
KERAS_IDX_SIZES = {"mnist": (60000, 10000), "fashion_mnist": (60000, 10000)}


@dataclass(frozen=True)
class DataShape:
    """How many samples each split offers and the shape of one sample, as the model sees it."""

    train: int  # after the validation hold-out, before `train_size`
    test: int  # before `test_size`
    input_shape: tuple[int, ...]
    num_classes: int  # 0 for real targets
    num_outputs: int  # units of the output layer
    source: str


def data_shape(d: DataConfig) -> DataShape:
    """The sizes and sample shape of a data setting; raises DataError as loading it would."""
    if d.format is None and d.name in idx.IDX_DATASETS and d.validation is None and not keras_npz(d):
        return idx_shape(d)
    from study.data.loading import load

    data = load(replace_sizes(d))
    return DataShape(
        len(data.y_train), len(data.y_test), data.input_shape, data.num_classes, data.num_outputs, data.source
    )


def keras_npz(d: DataConfig) -> bool:
    """Whether a named MNIST setting reads keras's mnist.npz (sized by reading it) rather than IDX files."""
    directory = idx.resolve_data_dir(d.dir, d.name)
    return directory is not None and idx.keras_npz(d.name, directory) is not None


def replace_sizes(d: DataConfig) -> DataConfig:
    """The same data setting with every sample kept, so the sizes checked are the available ones."""
    return d.model_copy(update={"train_size": None, "test_size": None})


def idx_shape(d: DataConfig) -> DataShape:
    """MNIST-family sizes from the four IDX headers (checked as loading checks them)."""
    flat = (idx.ROWS * idx.COLS,)
    directory = idx.resolve_data_dir(d.dir)
    if directory is None:
        train, test = KERAS_IDX_SIZES[d.name]
        return DataShape(train, test, flat, idx.NUM_CLASSES, idx.NUM_CLASSES, KERAS_SOURCE)
    paths = idx.locate_files(directory)
    counts = {}
    for split, kind, base in idx.FILES:
        counts[split, kind] = header_count(paths[base], kind)
    for split in ("train", "test"):
        if counts[split, "images"] != counts[split, "labels"]:
            img, lab = (paths[b] for s, _, b in idx.FILES if s == split)
            raise DataError(
                f"{img}: {counts[split, 'images']} images but {lab.name} has {counts[split, 'labels']} labels"
            )
    return DataShape(
        counts["train", "images"], counts["test", "images"], flat, idx.NUM_CLASSES, idx.NUM_CLASSES, str(directory)
    )


def header_count(path, kind: str) -> int:
    """The sample count in one IDX file's header, after checking its magic number and image size."""
    ndim, magic = (3, idx.IMAGE_MAGIC) if kind == "images" else (1, idx.LABEL_MAGIC)
    want = 4 + 4 * ndim
    try:
        with path.open("rb") as f:
            head = f.read(want) if path.suffix != ".gz" else gzip.GzipFile(fileobj=f).read(want)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupted gzip: {squeezed_message(exc)}") from exc
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if len(head) < want:
        raise DataError(f"{path}: header too short: {len(head)} bytes, need {want}")
    found, *shape = struct.unpack(f">{ndim + 1}I", head)
    if found != magic:
        raise DataError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x}")
    if kind == "images" and tuple(shape[1:]) != (idx.ROWS, idx.COLS):
        raise DataError(f"{path}: images are {shape[1]}×{shape[2]}, expected {idx.ROWS}×{idx.COLS}")
    return int(shape[0])
