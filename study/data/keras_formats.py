"""CIFAR-10 and CIFAR-100 in their published "python version" format, or through keras.datasets.

``data.dir`` names a directory holding the extracted folder (``cifar-10-batches-py/`` with
``data_batch_1`` … ``data_batch_5`` and ``test_batch``; ``cifar-100-python/`` with ``train`` and
``test``), those files themselves, or the published tarball (``cifar-10-python.tar.gz``,
``cifar-100-python.tar.gz``); ``data.dir`` may also name the tarball. Each file is a pickled dict:
``data`` a uint8 N×3072 array (1024 red, 1024 green, 1024 blue values per image, rows top to
bottom), ``labels`` (CIFAR-10) or ``fine_labels`` (CIFAR-100). The pickles are read by an
unpickler that only builds dicts, lists and NumPy arrays, so a crafted file cannot run code.

Images come out N×32×32×3 uint8 (channels last); the digest hashes the decoded arrays, so the
tarball, the extracted folder and keras.datasets' copy all agree.
"""

from __future__ import annotations

import io
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import study.data.reading as reading
from study.data.dataset import KERAS_SOURCE, Raw
from study.data.digest import arrays_digest
from study.errors import DataError

SIDE, CHANNELS = 32, 3


@dataclass(frozen=True)
class CifarLayout:
    """Where one CIFAR variant keeps what, in its published tarball."""

    folder: str
    tarball: str
    train: tuple[str, ...]
    test: str
    label_key: bytes
    num_classes: int


CIFAR = {
    "cifar10": CifarLayout(
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
        tuple(f"data_batch_{i}" for i in range(1, 6)),
        "test_batch",
        b"labels",
        10,
    ),
    "cifar100": CifarLayout("cifar-100-python", "cifar-100-python.tar.gz", ("train",), "test", b"fine_labels", 100),
}
CIFAR_DATASETS = tuple(CIFAR)

# What a CIFAR pickle may reference: NumPy's array reconstruction, and the codec Python 2 pickles use.
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _ArraysOnly(pickle.Unpickler):
    """An unpickler that builds NumPy arrays and plain containers, and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} (a CIFAR file holds only arrays)")
        return super().find_class(module, name)


def locate(name: str, directory: Path) -> tuple[Path, str]:
    """The tarball or folder holding `name`'s files in or at `directory`: (path, "tar" | "folder")."""
    layout = CIFAR[name]
    if directory.is_file():
        return directory, "tar"
    for candidate in (directory / layout.folder, directory):
        if all((candidate / f).is_file() for f in (*layout.train, layout.test)):
            return candidate, "folder"
    if (directory / layout.tarball).is_file():
        return directory / layout.tarball, "tar"
    raise DataError(
        f"{directory}: holds neither {layout.folder}/ ({', '.join((*layout.train, layout.test))}) nor "
        f"{layout.tarball}; it holds {reading.listing(directory)}"
    )


def files_of(name: str, path: Path, how: str) -> list[Path]:
    """The files whose stamps identify this copy (for the cache)."""
    layout = CIFAR[name]
    return [path] if how == "tar" else [path / f for f in (*layout.train, layout.test)]


def read_local(name: str, path: Path, how: str) -> Raw:
    """Read a CIFAR variant from its folder or tarball, check every file, and hash the arrays."""
    layout = CIFAR[name]
    blobs = _tar_members(path, layout) if how == "tar" else {f: reading.read_bytes(path / f) for f in _names(layout)}
    where = {f: f"{path}:{layout.folder}/{f}" if how == "tar" else str(path / f) for f in _names(layout)}
    parts = [_batch(where[f], blobs[f], layout) for f in layout.train]
    x_train = np.concatenate([x for x, _ in parts])
    y_train = np.concatenate([y for _, y in parts])
    x_test, y_test = _batch(where[layout.test], blobs[layout.test], layout)
    return _raw(
        x_train, y_train, x_test, y_test, str(path), "cifar", where[layout.train[0]], where[layout.test], layout
    )


def _names(layout: CifarLayout) -> tuple[str, ...]:
    return (*layout.train, layout.test)


def _tar_members(path: Path, layout: CifarLayout) -> dict[str, bytes]:
    """The bytes of each data file inside the published tarball."""
    try:
        with tarfile.open(path, "r:*") as tar:
            out = {}
            for f in _names(layout):
                try:
                    member = tar.extractfile(f"{layout.folder}/{f}")
                except KeyError:
                    member = None
                if member is None:
                    raise DataError(f"{path}: no file {layout.folder}/{f} in the archive")
                out[f] = member.read()
            return out
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable tar archive: {reading.squeezed_message(exc)}") from exc


def _batch(where: str, blob: bytes, layout: CifarLayout) -> tuple[np.ndarray, np.ndarray]:
    """One pickled batch as (N×32×32×3 uint8 images, int64 labels), every field checked."""
    try:
        doc = _ArraysOnly(io.BytesIO(blob), encoding="bytes").load()
    except Exception as exc:  # any unpickling failure is a bad file
        raise DataError(f"{where}: not a CIFAR batch pickle: {reading.squeezed_message(exc)}") from exc
    if not isinstance(doc, dict) or b"data" not in doc or layout.label_key not in doc:
        keys = (
            ", ".join(k.decode(errors="replace") if isinstance(k, bytes) else str(k) for k in doc)
            if isinstance(doc, dict)
            else type(doc).__name__
        )
        raise DataError(f"{where}: needs 'data' and {layout.label_key.decode()!r} entries; holds {keys}")
    data = doc[b"data"]
    if (
        not isinstance(data, np.ndarray)
        or data.dtype != np.uint8
        or data.ndim != 2
        or data.shape[1] != SIDE * SIDE * CHANNELS
    ):
        shape = getattr(data, "shape", type(data).__name__)
        raise DataError(f"{where}: 'data' is {shape} {getattr(data, 'dtype', '')}, expected N×3072 uint8")
    labels = np.asarray(doc[layout.label_key])
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(f"{where}: {layout.label_key.decode()!r} must be a list of class integers")
    if len(labels) != len(data):
        raise DataError(f"{where}: {len(data)} images but {len(labels)} labels")
    images = data.reshape(-1, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


def _raw(x_train, y_train, x_test, y_test, source: str, kind: str, train_where: str, test_where: str, layout) -> Raw:
    """Check the labels' range and hash the decoded arrays."""
    from study.data.idx import check_labels

    check_labels(train_where, y_train, layout.num_classes)
    check_labels(test_where, y_test, layout.num_classes)
    digest = arrays_digest((("x_train", x_train), ("y_train", y_train), ("x_test", x_test), ("y_test", y_test)))
    return Raw(x_train, y_train, x_test, y_test, digest, source, kind, train_where, test_where, layout.num_classes)


def read_keras(name: str) -> Raw:
    """CIFAR through keras.datasets (its cache in ~/.keras/datasets, else the download)."""
    layout = CIFAR[name]
    try:
        import keras

        module = getattr(keras.datasets, name)
        loaded = module.load_data(label_mode="fine") if name == "cifar100" else module.load_data()
        (x_train, y_train), (x_test, y_test) = loaded
    except Exception as exc:  # network, cache or archive failures: all one line for the user
        raise DataError(
            f"keras.datasets.{name}.load_data() failed: {reading.squeezed_message(exc)}; set data.dir to a "
            f"directory holding {layout.folder}/ or {layout.tarball}"
        ) from exc
    where = f"keras.datasets.{name}"
    x_train, x_test = (np.ascontiguousarray(x, dtype=np.uint8) for x in (x_train, x_test))
    y_train, y_test = (np.asarray(y).reshape(-1).astype(np.int64) for y in (y_train, y_test))
    return _raw(x_train, y_train, x_test, y_test, KERAS_SOURCE, "keras", f"{where} train", f"{where} test", layout)
