"""Datasets for study: MNIST and Fashion-MNIST, read from the original IDX files.

`load_dataset(name, data_dir, train_size, test_size, flatten)` returns a `Dataset` whose
pixels are float32 in [0, 1] (``x / 255.0``), flattened to ``(N, 784)`` for dense nets or
shaped ``(N, 28, 28, 1)`` (channels last) for CNNs, with int32 labels ``(N,)``.
``train_size`` / ``test_size`` take the first N samples, as ``x[:N]`` does.

Where the data comes from, first match wins:

1. the ``data_dir`` argument (a relative path is relative to the current directory);
2. the ``STUDY_DATA_DIR`` environment variable;
3. ``keras.datasets.<name>.load_data()`` (downloads to ``~/.keras/datasets``; keras is
   imported only on this path).

A data directory holds the four original files ``train-images-idx3-ubyte``,
``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``,
each gzipped (``.gz``) or raw. MNIST and Fashion-MNIST use the same file names, so each
lives in its own directory (Debian's ``dataset-fashion-mnist`` package, for one, installs
Fashion-MNIST under ``/usr/share/datasets/fashion-mnist/``). Every file is checked (magic
number, header, exact length, 28x28 images, labels 0..9, matching counts, gzip
integrity); any problem raises `study.errors.DataError` with one line naming the file.

`Dataset.digest` is the first 16 hex digits of a sha256 over the uncompressed bytes of
the four files (fixed order), so gzipped and raw copies agree; the keras fallback hashes
the same IDX bytes rebuilt from its arrays. Parsed full arrays and digests are cached
in-process per (directory, name, file stamps), so a grid of many cells reads each file once.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from study.errors import DataError

DATASETS = ("mnist", "fashion_mnist")
DATA_DIR_ENV = "STUDY_DATA_DIR"
KERAS_SOURCE = "keras.datasets"

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
ROWS = COLS = 28
NUM_CLASSES = 10

# pixel value -> float32 in [0, 1], exactly (x / 255.0).astype(float32); a lookup beats astype + divide.
_SCALE = (np.arange(256) / 255.0).astype(np.float32)

# (split, kind, file name) in the fixed order the digest hashes them.
FILES = (
    ("train", "images", "train-images-idx3-ubyte"),
    ("train", "labels", "train-labels-idx1-ubyte"),
    ("test", "images", "t10k-images-idx3-ubyte"),
    ("test", "labels", "t10k-labels-idx1-ubyte"),
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset ready for Keras: scaled inputs, int labels, and where they came from."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    digest: str
    source: str

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, for a model's Input layer."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        """Number of label classes (10 for both datasets)."""
        return NUM_CLASSES


@dataclass(frozen=True, eq=False)
class _Full:
    """The whole dataset as read (uint8 images N×28×28, uint8 labels), plus its digest."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    digest: str
    source: str
    paths: dict[str, Path]


_cache: dict[tuple, _Full] = {}
_cache_lock = threading.Lock()


def clear_cache() -> None:
    """Forget every parsed dataset, so the next load rereads the files."""
    with _cache_lock:
        _cache.clear()


def check_name(name: str) -> str:
    """Return `name` if it is a known dataset, else raise DataError listing the choices."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}: choose one of {', '.join(DATASETS)}")
    return name


def resolve_data_dir(data_dir: str | os.PathLike | None) -> Path | None:
    """Pick the data directory (argument, then $STUDY_DATA_DIR) and check it holds the four files.

    Returns None when neither is set, meaning "use the keras download".
    """
    origin = "data_dir"
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(DATA_DIR_ENV) or None
        origin = DATA_DIR_ENV
    if data_dir is None:
        return None
    path = Path(data_dir).expanduser().absolute()
    if not path.exists():
        raise DataError(f"{path}: data directory does not exist (from {origin})")
    if not path.is_dir():
        raise DataError(f"{path}: not a directory (from {origin})")
    _locate_files(path)
    return path


def _locate_files(directory: Path) -> dict[str, Path]:
    """Map each IDX file name to the raw or gzipped copy in `directory` (raw wins: no inflating)."""
    found, missing = {}, []
    for _, _, base in FILES:
        raw, gz = directory / base, directory / f"{base}.gz"
        if raw.is_file():
            found[base] = raw
        elif gz.is_file():
            found[base] = gz
        else:
            missing.append(base)
    if missing:
        raise DataError(
            f"{directory / missing[0]}: missing (neither raw nor .gz); directory holds "
            f"{_listing(directory)}; expected {', '.join(b + '[.gz]' for _, _, b in FILES)}"
        )
    return found


def _listing(directory: Path, limit: int = 10) -> str:
    """Short, sorted listing of a directory for error messages."""
    try:
        names = sorted(os.listdir(directory))
    except OSError as exc:
        return f"<unreadable: {exc.strerror}>"
    if not names:
        return "nothing"
    shown = ", ".join(names[:limit])
    return shown + (f", … ({len(names) - limit} more)" if len(names) > limit else "")


def _read_bytes(path: Path) -> bytes:
    """Return the uncompressed content of `path`, inflating it when it ends in .gz."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path}: corrupted gzip: {_one_line(exc)}") from exc


def _one_line(exc: BaseException) -> str:
    """An exception's text squeezed onto one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


def _parse_idx(path: Path, data: bytes, magic: int, ndim: int) -> np.ndarray:
    """Check an IDX file's magic, header and exact length; return its uint8 array."""
    if len(data) < 4:
        raise DataError(f"{path}: header too short: {len(data)} bytes, need at least 4 for the magic number")
    (found,) = struct.unpack(">I", data[:4])
    if found != magic:
        raise DataError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x}")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path}: header too short: {len(data)} bytes, need {header}")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims, dtype=np.int64))
    body = len(data) - header
    if body != expected:
        what = "truncated" if body < expected else "too long"
        shape = "×".join(str(d) for d in dims)
        raise DataError(
            f"{path}: {what}: header says {shape} = {expected} bytes, file has {body} after the {header}-byte header"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def _check_images(path: Path, images: np.ndarray) -> None:
    """Images must be 28×28."""
    if images.shape[1:] != (ROWS, COLS):
        raise DataError(f"{path}: images are {images.shape[1]}×{images.shape[2]}, expected {ROWS}×{COLS}")


def _check_labels(path: Path, labels: np.ndarray) -> None:
    """Labels must lie in 0..9."""
    bad = np.flatnonzero(labels >= NUM_CLASSES)
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{path}: label {int(labels[i])} at index {i} is outside 0..{NUM_CLASSES - 1} ({bad.size} such labels)"
        )


def _check_counts(images_path: Path, images: np.ndarray, labels_path: Path, labels: np.ndarray) -> None:
    """Each split needs exactly one label per image."""
    if len(images) != len(labels):
        raise DataError(f"{images_path}: {len(images)} images but {labels_path.name} has {len(labels)} labels")


def _read_directory(directory: Path, paths: dict[str, Path]) -> _Full:
    """Read, validate and hash the four IDX files of one directory."""
    sha = hashlib.sha256()
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for split, kind, base in FILES:
        path = paths[base]
        data = _read_bytes(path)
        sha.update(data)
        if kind == "images":
            arr = _parse_idx(path, data, IMAGE_MAGIC, 3)
            _check_images(path, arr)
        else:
            arr = _parse_idx(path, data, LABEL_MAGIC, 1)
            _check_labels(path, arr)
        arrays[split, kind] = arr
    for split in ("train", "test"):
        img_base, lab_base = (b for s, _, b in FILES if s == split)
        _check_counts(paths[img_base], arrays[split, "images"], paths[lab_base], arrays[split, "labels"])
    return _Full(
        x_train=arrays["train", "images"],
        y_train=arrays["train", "labels"],
        x_test=arrays["test", "images"],
        y_test=arrays["test", "labels"],
        digest=sha.hexdigest()[:16],
        source=str(directory),
        paths=paths,
    )


def _idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Rebuild an IDX file's bytes from an array, so keras data hashes like the files."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _read_keras(name: str) -> _Full:
    """Load a dataset through keras.datasets (downloads on first use) and hash it."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # network, cache or archive failures: all one line for the user
        raise DataError(
            f"keras.datasets.{name}.load_data() failed: {_one_line(exc)}; "
            f"set {DATA_DIR_ENV} or data_dir to a directory with the IDX files"
        ) from exc
    sha = hashlib.sha256()
    where = f"keras.datasets.{name}"
    for array, magic in ((x_train, IMAGE_MAGIC), (y_train, LABEL_MAGIC), (x_test, IMAGE_MAGIC), (y_test, LABEL_MAGIC)):
        sha.update(_idx_bytes(array, magic))
    for label, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        _check_images(Path(f"{where} {label} images"), x)
        _check_counts(Path(f"{where} {label} images"), x, Path(f"{label} labels"), y)
    paths = {base: Path(f"{where} {split} {kind}") for split, kind, base in FILES}
    return _Full(x_train, y_train, x_test, y_test, sha.hexdigest()[:16], KERAS_SOURCE, paths)


def _stamp(paths: dict[str, Path]) -> tuple:
    """Size and mtime of each file, so edits on disk invalidate the cache."""
    stamps = []
    for base in sorted(paths):
        st = paths[base].stat()
        stamps.append((str(paths[base]), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(stamps)


def _load_full(name: str, data_dir: str | os.PathLike | None) -> _Full:
    """The whole dataset for (directory, name), read once per process and then cached."""
    check_name(name)
    directory = resolve_data_dir(data_dir)
    if directory is None:
        key: tuple = (KERAS_SOURCE, name)
        paths = None
    else:
        paths = _locate_files(directory)
        key = (str(directory.resolve()), name, _stamp(paths))
    with _cache_lock:
        full = _cache.get(key)
        if full is None:
            full = _read_keras(name) if paths is None or directory is None else _read_directory(directory, paths)
            _cache[key] = full
    return full


def dataset_digest(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Digest of the full dataset (cached), to check a worker's data against the driver's."""
    return _load_full(name, data_dir).digest


@dataclass(frozen=True)
class DataShape:
    """How many samples each split has and the shape of one sample, as the model sees it."""

    train: int
    test: int
    input_shape: tuple[int, ...]  # flat, as load_dataset(flatten=True) gives it
    num_classes: int
    source: str


# keras.datasets' MNIST-format datasets, when no directory is given (nothing downloaded to size them).
KERAS_SHAPES = {"mnist": (60000, 10000), "fashion_mnist": (60000, 10000)}


def dataset_shape(name: str, data_dir: str | os.PathLike | None = None) -> DataShape:
    """The dataset's sizes and sample shape from the IDX headers alone (a few bytes per file), for
    checking a study before anything is loaded; raises DataError like `load_dataset`."""
    check_name(name)
    directory = resolve_data_dir(data_dir)
    if directory is None:
        train, test = KERAS_SHAPES[name]
        return DataShape(train, test, (ROWS * COLS,), NUM_CLASSES, KERAS_SOURCE)
    paths = _locate_files(directory)
    dims = {}
    for split, kind, base in FILES:
        path, ndim = paths[base], 3 if kind == "images" else 1
        magic = IMAGE_MAGIC if kind == "images" else LABEL_MAGIC
        try:
            with gzip.open(path) if path.suffix == ".gz" else path.open("rb") as f:
                head = f.read(4 + 4 * ndim)
        except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
            raise DataError(f"{path}: corrupted gzip: {_one_line(exc)}") from exc
        except OSError as exc:
            raise DataError(f"{path}: cannot read: {exc.strerror or exc}") from exc
        if len(head) < 4 + 4 * ndim:
            raise DataError(f"{path}: header too short: {len(head)} bytes, need {4 + 4 * ndim}")
        found, *shape = struct.unpack(f">{ndim + 1}I", head)
        if found != magic:
            raise DataError(f"{path}: bad magic number 0x{found:08x}, expected 0x{magic:08x}")
        if kind == "images" and tuple(shape[1:]) != (ROWS, COLS):
            raise DataError(f"{path}: images are {shape[1]}×{shape[2]}, expected {ROWS}×{COLS}")
        dims[split, kind] = shape[0]
    for split in ("train", "test"):
        if dims[split, "images"] != dims[split, "labels"]:
            img, lab = (paths[b] for s, _, b in FILES if s == split)
            raise DataError(f"{img}: {dims[split, 'images']} images but {lab.name} has {dims[split, 'labels']} labels")
    return DataShape(dims["train", "images"], dims["test", "images"], (ROWS * COLS,), NUM_CLASSES, str(directory))


def _check_size(size: int | None, available: int, what: str, path: Path) -> int:
    """Validate a requested subset size; None means all samples."""
    if size is None:
        return available
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise DataError(f"{path}: {what}={size!r} must be a positive integer or None")
    if size > available:
        raise DataError(f"{path}: {what}={size} but only {available} samples are available")
    return int(size)


def _prepare(images: np.ndarray, n: int, flatten: bool) -> np.ndarray:
    """First n images as float32 in [0, 1], flat (n, 784) or channels-last (n, 28, 28, 1)."""
    x = _SCALE[images[:n]]
    return x.reshape(n, ROWS * COLS) if flatten else x.reshape(n, ROWS, COLS, 1)


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    flatten: bool = True,
) -> Dataset:
    """Load `name`, keep the first train_size/test_size samples, scale to [0, 1] and shape for Keras."""
    full = _load_full(name, data_dir)
    n_train = _check_size(train_size, len(full.y_train), "train_size", full.paths[FILES[0][2]])
    n_test = _check_size(test_size, len(full.y_test), "test_size", full.paths[FILES[2][2]])
    return Dataset(
        name=name,
        x_train=_prepare(full.x_train, n_train, flatten),
        y_train=full.y_train[:n_train].astype(np.int32),
        x_test=_prepare(full.x_test, n_test, flatten),
        y_test=full.y_test[:n_test].astype(np.int32),
        digest=full.digest,
        source=full.source,
    )
