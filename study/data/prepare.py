"""From the full data as read to what a cell trains on: the test and validation hold-outs, the
first-N subsets, inputs as float32 (uint8 scaled by 1/255; with data.standardize, feature vectors
scaled by the training split's statistics) and targets as int32 classes or float32.

Order: the test set is held out of a one-file source first, then the validation set out of what
training data remains, then ``train_size`` / ``test_size`` take the first N of each part; the
standardization statistics come from that final training part alone.
"""

from __future__ import annotations

import numpy as np

from study.data.dataset import Dataset, Raw
from study.data.idx import COLS, IDX_DATASETS, ROWS
from study.data.split import hold_out
from study.data.standardize import Standardization, fit, standardize
from study.errors import DataError
from study.spec.data import DataConfig

PIXEL_MAX = np.float32(255)  # uint8 inputs are divided by it, in float32: x / 255 correctly rounded
ALIGN = 64  # bytes: the alignment TensorFlow needs to use an array's memory as a tensor without a copy


def prepare(raw: Raw, d: DataConfig, flatten: bool = True) -> Dataset:
    """The cell's dataset from the full data (never sharing memory with the cached arrays)."""
    x_train, y_train, x_test, y_test = raw.x_train, raw.y_train, raw.x_test, raw.y_test
    test_where = raw.test_where
    if x_test is None or y_test is None:
        if d.test_split is None:
            raise DataError(f"{raw.train_where}: no test set: set data.test_path or data.test_split")
        x_train, y_train, x_test, y_test = hold_out(x_train, y_train, d.test_split, raw.train_where, "test_split")
        test_where = f"{raw.train_where} (data.test_split)"
    x_val = y_val = None
    if d.validation is not None:
        x_train, y_train, x_val, y_val = hold_out(x_train, y_train, d.validation, raw.train_where, "validation")
    after = " after the validation split" if d.validation is not None else ""
    n_train = check_size(d.train_size, len(y_train), "train_size", raw.train_where, after)
    n_test = check_size(d.test_size, len(y_test), "test_size", test_where, "")
    image = d.format is None and d.name in IDX_DATASETS and not flatten
    flat = d.format is None and d.name in IDX_DATASETS and flatten
    classes = d.targets == "classes"
    x_train, x_test = inputs(x_train[:n_train], flat, image), inputs(x_test[:n_test], flat, image)
    x_val = None if x_val is None else inputs(x_val, flat, image)
    stats = standardized(d, raw, x_train, x_val, x_test)
    return Dataset(
        name=d.name,
        x_train=x_train,
        y_train=targets(y_train[:n_train], classes),
        x_test=x_test,
        y_test=targets(y_test[:n_test], classes),
        digest=raw.digest,
        source=raw.source,
        kind=raw.kind,
        targets=d.targets,
        num_classes=raw.num_classes if classes else 0,
        x_val=x_val,
        y_val=None if y_val is None else targets(y_val, classes),
        class_names=raw.class_names,
        standardization=stats,
    )


def standardized(
    d: DataConfig, raw: Raw, x_train: np.ndarray, x_val: np.ndarray | None, x_test: np.ndarray
) -> Standardization | None:
    """With data.standardize, every split scaled in place by the training split's statistics (returned)."""
    if not d.standardize:
        return None
    if x_train.ndim != 2:
        raise DataError(
            f"{raw.train_where}: data.standardize scales feature vectors (samples, features); these inputs are "
            f"{x_train.shape[1:]} per sample: remove data.standardize (image pixels already share one scale)"
        )
    stats = fit(x_train, raw.features)
    for x in (x_train, x_val, x_test):
        if x is not None:
            standardize(x, stats)
    return stats


def check_size(size: int | None, available: int, what: str, where: str, after: str) -> int:
    """Validate a requested subset size; None means all samples."""
    if size is None:
        return available
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise DataError(f"{where}: {what}={size!r} must be a positive integer or None")
    if size > available:
        raise DataError(f"{where}: {what}={size} but only {available} samples are available{after}")
    return int(size)


def inputs(x: np.ndarray, flat: bool, image: bool) -> np.ndarray:
    """float32 inputs, uint8 scaled to [0, 1]; MNIST-family images flat (n, 784) or (n, 28, 28, 1)."""
    out = aligned_empty(x.shape, np.float32)
    if x.dtype == np.uint8:
        np.divide(x, PIXEL_MAX, out=out, dtype=np.float32)
    else:
        out[...] = x
    n = len(out)
    if flat:
        return out.reshape(n, ROWS * COLS)
    if image:
        return out.reshape(n, ROWS, COLS, 1)
    return out


def targets(y: np.ndarray, classes: bool) -> np.ndarray:
    """int32 class labels, or float32 real targets (a fresh copy either way)."""
    out = aligned_empty(y.shape, np.int32 if classes else np.float32)
    out[...] = y
    return out


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """A new C-contiguous array whose data starts on an ALIGN-byte boundary, so the engine can hand it
    to TensorFlow as a resident tensor without copying it (study/engine/graph.py `resident`)."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    buffer = np.empty(size + ALIGN, np.uint8)
    start = (-buffer.ctypes.data) % ALIGN
    return buffer[start : start + size].view(dtype).reshape(shape)
