"""Which source reads a data setting, and the in-process cache of what each source read.

A named dataset (``data.name``) is read from ``data.dir``, then (MNIST family only)
``$STUDY_DATA_DIR``, then keras.datasets; a user file by ``data.format``. Each full read is
cached per (source, resolved paths, file stamps, reading options), so a grid of many cells reads
each file once and an edit on disk is seen.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import study.data.idx as idx
import study.data.images as images
import study.data.keras_formats as keras_formats
import study.data.npz as npz
import study.data.tables as tables
from study.data.dataset import KERAS_SOURCE, Raw
from study.data.reading import existing, stamp
from study.errors import DataError
from study.spec.data import DATASETS, DataConfig

_cache: dict[tuple, Raw] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every dataset read, so the next load rereads the files."""
    with _cache_lock:
        _cache.clear()


def check_name(name: str) -> str:
    """Return `name` if it is a known dataset, else raise DataError listing the choices."""
    if name not in DATASETS:
        raise DataError(
            f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}, or set data.format for your own file"
        )
    return name


def raw_for(d: DataConfig) -> Raw:
    """The full data of a setting, read once per process and then cached."""
    key, read = _reader(d)
    with _cache_lock:
        raw = _cache.get(key)
        if raw is None:
            raw = read()
            _cache[key] = raw
    return raw


def _reader(d: DataConfig) -> tuple[tuple, Callable[[], Raw]]:
    """(cache key, the function that reads it) for one data setting."""
    if d.format is None:
        return _named(d.name, d.dir)
    if d.path is None:  # DataConfig requires it; a hand-built config may not
        raise DataError(f"data.format {d.format} needs data.path")
    if d.format == "npz":
        path = existing(d.path, "path", "file")
        need_test = d.test_split is None
        return ("npz", stamp([path]), tuple(d.arrays), d.targets, need_test), lambda: npz.read(
            path, d.arrays, d.targets, need_test
        )
    if d.format == "csv":
        path = existing(d.path, "path", "file")
        test = existing(d.test_path, "test_path", "file") if d.test_path else None
        key: tuple = ("csv", stamp([path]), stamp([test]) if test else None, d.label_column, d.targets)
        return key, lambda: tables.read(path, test, d.label_column, d.targets)
    path = existing(d.path, "path", "directory")
    test = existing(d.test_path, "test_path", "directory") if d.test_path else None
    images_key: tuple = ("images", images.stamps(path, test), tuple(d.image_size), d.color_mode)
    return images_key, lambda: images.read(path, test, d.image_size, d.color_mode)


def _named(name: str, data_dir: str | os.PathLike | None) -> tuple[tuple, Callable[[], Raw]]:
    """A keras.datasets name: its local directory in the published format, else keras's loader."""
    check_name(name)
    if name in keras_formats.CIFAR_DATASETS:
        if data_dir is None or str(data_dir) == "":
            return (KERAS_SOURCE, name), lambda: keras_formats.read_keras(name)
        where = Path(data_dir).expanduser().absolute()
        if not where.exists():
            raise DataError(f"{where}: data directory does not exist (data.dir)")
        path, how = keras_formats.locate(name, where)
        key: tuple = ("cifar", name, stamp(keras_formats.files_of(name, path, how)))
        return key, lambda: keras_formats.read_local(name, path, how)
    directory = idx.resolve_data_dir(data_dir, name)
    if directory is None:
        return (KERAS_SOURCE, name), lambda: idx.read_keras(name)
    npz_file = idx.keras_npz(name, directory)
    if npz_file is not None:
        return ("keras_npz", name, stamp([npz_file])), lambda: idx.read_keras_npz(name, npz_file)
    paths = idx.locate_files(directory)
    idx_key: tuple = ("idx", str(directory.resolve()), name, stamp(list(paths.values())))
    return idx_key, lambda: idx.read_directory(name, directory, paths)
