"""MNIST and Fashion-MNIST from their original IDX files (gzipped or raw), or keras.datasets.

A directory holds the four files ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte``, each gzipped (``.gz``) or raw. MNIST
and Fashion-MNIST use the same file names, so each lives in its own directory (Debian's
``dataset-fashion-mnist`` installs Fashion-MNIST under ``/usr/share/datasets/fashion-mnist/``).
Every file is checked (magic number, header, exact length, 28x28 images, labels 0..9, matching
counts, gzip integrity); a directory holding the other dataset of the pair is refused by digest.

The digest is a sha256 over the uncompressed bytes of the four files (fixed order), so gzipped and
raw copies agree; the keras fallback hashes the same IDX bytes rebuilt from its arrays.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

import study.data.reading as reading
from study.data.dataset import IDX_NUM_CLASSES, KERAS_SOURCE, Raw
from study.data.digest import bytes_digest
from study.errors import DataError

IDX_DATASETS = ("mnist", "fashion_mnist")
DATA_DIR_ENV = "STUDY_DATA_DIR"

IMAGE_MAGIC = 0x00000803
LABEL_MAGIC = 0x00000801
ROWS = COLS = 28
NUM_CLASSES = IDX_NUM_CLASSES

# The published files' digests, to catch a directory that holds the other dataset of the pair.
KERAS_NPZ = {"mnist": "mnist.npz"}  # the file keras.datasets.mnist downloads (fashion_mnist: the IDX files)
KNOWN_DIGESTS = {"b2d8f5bf39174ee5": "mnist", "14410854cf7a2894": "fashion_mnist"}

# (split, kind, file name) in the fixed order the digest hashes them.
FILES = (
    ("train", "images", "train-images-idx3-ubyte"),
    ("train", "labels", "train-labels-idx1-ubyte"),
    ("test", "images", "t10k-images-idx3-ubyte"),
    ("test", "labels", "t10k-labels-idx1-ubyte"),
)


def resolve_data_dir(data_dir: str | os.PathLike | None, name: str | None = None) -> Path | None:
    """Pick the data directory (argument, then $STUDY_DATA_DIR) and check it holds the four files
    (or, for `name` mnist, keras's own ``mnist.npz``).

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
    if name is None or keras_npz(name, path) is None:
        locate_files(path)
    return path


def has_idx_files(directory: Path) -> bool:
    """Whether all four IDX files are in `directory` (raw or gzipped)."""
    return all((directory / b).is_file() or (directory / f"{b}.gz").is_file() for _, _, b in FILES)


def keras_npz(name: str, directory: Path) -> Path | None:
    """keras.datasets.mnist's own download, ``mnist.npz`` (as in ~/.keras/datasets), when the
    directory holds it and not the four IDX files (which win)."""
    base = KERAS_NPZ.get(name)
    if base is None or not (directory / base).is_file() or has_idx_files(directory):
        return None
    return directory / base


def read_keras_npz(name: str, path: Path) -> Raw:
    """``mnist.npz`` (x_train, y_train, x_test, y_test as uint8), checked and hashed like the IDX files."""
    from study.data.npz import load_arrays

    arrays = load_arrays(path, {r: r for r in ("x_train", "y_train", "x_test", "y_test")})
    return checked_arrays(name, arrays, str(path), str(path), "keras")


def locate_files(directory: Path) -> dict[str, Path]:
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
            f"{reading.listing(directory)}; expected {', '.join(b + '[.gz]' for _, _, b in FILES)}"
        )
    return found


def parse_idx(path: Path, data: bytes, magic: int, ndim: int) -> np.ndarray:
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


IDX_SLACK_BYTES = 1 << 20  # read past the declared size, to report a file that is too long as such


def idx_size_limit(path: Path, ndim: int) -> int:
    """The most bytes an IDX file is read to: its header and the body its dimensions declare, plus a MiB so
    that a somewhat longer file is still read and told apart ("too long"), within the reader's ceiling;
    just the ceiling without a header."""
    head = reading.read_head(path, 4 + 4 * ndim)
    if len(head) < 4 + 4 * ndim:
        return reading.MAX_FILE_BYTES
    declared = int(np.prod(struct.unpack(f">{ndim}I", head[4:]), dtype=np.int64))
    return min(reading.MAX_FILE_BYTES, len(head) + declared + IDX_SLACK_BYTES)


def check_images(where: Path | str, images: np.ndarray) -> None:
    """Images must be 28×28."""
    if images.ndim != 3 or images.shape[1:] != (ROWS, COLS):
        raise DataError(f"{where}: images are {'×'.join(map(str, images.shape[1:]))}, expected {ROWS}×{COLS}")


def check_labels(where: Path | str, labels: np.ndarray, num_classes: int = NUM_CLASSES) -> None:
    """Labels must lie in 0..num_classes-1."""
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if bad.size:
        i = int(bad[0])
        raise DataError(
            f"{where}: label {int(labels[i])} at index {i} is outside 0..{num_classes - 1} ({bad.size} such labels)"
        )


def check_counts(images_where: Path | str, images: np.ndarray, labels_where: Path | str, labels: np.ndarray) -> None:
    """Each split needs exactly one label per image."""
    if len(images) != len(labels):
        name = labels_where.name if isinstance(labels_where, Path) else labels_where
        raise DataError(f"{images_where}: {len(images)} images but {name} has {len(labels)} labels")


def read_directory(name: str, directory: Path, paths: dict[str, Path]) -> Raw:
    """Read, validate and hash the four IDX files of one directory."""
    blobs: list[bytes] = []
    arrays: dict[tuple[str, str], np.ndarray] = {}
    for split, kind, base in FILES:
        path = paths[base]
        data = reading.read_bytes(path, idx_size_limit(path, 3 if kind == "images" else 1))
        blobs.append(data)
        if kind == "images":
            arr = parse_idx(path, data, IMAGE_MAGIC, 3)
            check_images(path, arr)
        else:
            arr = parse_idx(path, data, LABEL_MAGIC, 1)
            check_labels(path, arr)
        arrays[split, kind] = arr
    for split in ("train", "test"):
        img_base, lab_base = (b for s, _, b in FILES if s == split)
        check_counts(paths[img_base], arrays[split, "images"], paths[lab_base], arrays[split, "labels"])
    digest = bytes_digest(blobs)
    check_identity(name, digest, directory)
    return Raw(
        x_train=arrays["train", "images"],
        y_train=arrays["train", "labels"],
        x_test=arrays["test", "images"],
        y_test=arrays["test", "labels"],
        digest=digest,
        source=str(directory),
        kind="idx",
        train_where=str(paths[FILES[0][2]]),
        test_where=str(paths[FILES[2][2]]),
        num_classes=NUM_CLASSES,
    )


def check_identity(name: str, digest: str, directory: Path) -> None:
    """Refuse the published files of the other dataset of the pair (their file names are the same)."""
    holds = KNOWN_DIGESTS.get(digest)
    if holds is not None and holds != name:
        raise DataError(
            f"{directory}: holds the published {holds} files, not {name} "
            f"(data.dir or {DATA_DIR_ENV} points at the wrong directory)"
        )


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """Rebuild an IDX file's bytes from an array, so keras data hashes like the files."""
    header = struct.pack(f">I{array.ndim}I", magic, *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def read_keras(name: str) -> Raw:
    """Load MNIST or Fashion-MNIST through keras.datasets (downloads on first use) and hash it."""
    try:
        import keras

        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data()
    except Exception as exc:  # network, cache or archive failures: all one line for the user
        raise DataError(
            f"keras.datasets.{name}.load_data() failed: {reading.squeezed_message(exc)}; "
            f"set {DATA_DIR_ENV} or data.dir to a directory with the IDX files"
        ) from exc
    arrays = {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}
    return checked_arrays(name, arrays, KERAS_SOURCE, f"keras.datasets.{name}", "keras")


def checked_arrays(name: str, arrays: dict, source: str, where: str, kind: str) -> Raw:
    """MNIST-format arrays from keras (its loader or its mnist.npz): checked, hashed as IDX bytes."""
    for label in ("train", "test"):
        x, y = np.asarray(arrays[f"x_{label}"]), np.asarray(arrays[f"y_{label}"])
        if x.dtype != np.uint8 or not np.issubdtype(y.dtype, np.integer):
            raise DataError(f"{where} {label}: images are {x.dtype} and labels {y.dtype}; expected uint8 and integers")
        check_images(f"{where} {label} images", x)
        check_counts(f"{where} {label} images", x, f"{label} labels", y)
        check_labels(f"{where} {label} labels", y)
    magics = (IMAGE_MAGIC, LABEL_MAGIC, IMAGE_MAGIC, LABEL_MAGIC)
    order = ("x_train", "y_train", "x_test", "y_test")
    digest = bytes_digest(idx_bytes(arrays[k], m) for k, m in zip(order, magics))
    if source != KERAS_SOURCE:
        check_identity(name, digest, Path(source))
    x_train, y_train, x_test, y_test = (np.asarray(arrays[k]) for k in order)
    return Raw(
        x_train, y_train, x_test, y_test, digest, source, kind, f"{where} train images", f"{where} test images", 10
    )
