"""Data files written into tmp for the data tests: IDX files of the MNIST family, class folders of
tiny images, CIFAR batches and folders, a small CSV table, and the small study that reads them."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np
from PIL import Image

from study.spec.data import DataConfig

N_TRAIN, N_TEST = 20, 10


def idx_images(images: np.ndarray, magic: int = 0x803) -> bytes:
    """IDX bytes for an (N, rows, cols) uint8 array."""
    return struct.pack(">IIII", magic, *images.shape) + images.astype(np.uint8).tobytes()


def idx_labels(labels: np.ndarray, magic: int = 0x801) -> bytes:
    """IDX bytes for an (N,) uint8 array."""
    return struct.pack(">II", magic, len(labels)) + labels.astype(np.uint8).tobytes()


def make_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Random tiny dataset keyed by IDX file name."""
    rng = np.random.default_rng(seed)
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, N_TRAIN, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (N_TEST, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, N_TEST, dtype=np.uint8),
    }


def encode(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """IDX bytes for each file."""
    return {base: idx_images(a) if "images" in base else idx_labels(a) for base, a in arrays.items()}


def write_dir(directory: Path, blobs: dict[str, bytes], gz: bool) -> Path:
    """Write the four files (gzipped or raw) into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    for base, blob in blobs.items():
        if gz:
            (directory / f"{base}.gz").write_bytes(gzip.compress(blob, mtime=0))
        else:
            (directory / base).write_bytes(blob)
    return directory


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


PER_BATCH, CIFAR_N_TEST = 6, 4


def batch(n: int, seed: int, label_key: bytes = b"labels", classes: int = 10) -> dict:
    """One batch dict as the published pickles hold it (bytes keys, N×3072 uint8, a list of labels)."""
    rng = np.random.default_rng(seed)
    return {
        b"batch_label": b"fake batch",
        label_key: [int(v) for v in rng.integers(0, classes, n)],
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"filenames": [b"x.png"] * n,
    }


def cifar10_files(seed: int = 0) -> dict[str, dict]:
    files = {f"data_batch_{i}": batch(PER_BATCH, seed + i) for i in range(1, 6)}
    files["test_batch"] = batch(CIFAR_N_TEST, seed + 9)
    return files


def write_folder(root: Path, folder: str, files: dict[str, dict | bytes]) -> Path:
    target = root / folder
    target.mkdir(parents=True, exist_ok=True)
    for name, doc in files.items():
        (target / name).write_bytes(doc if isinstance(doc, bytes) else pickle.dumps(doc, protocol=2))
    return target


TABLE = "a,b,label\n" + "".join(f"{i % 7},{(i * 3) % 5},{i % 2}\n" for i in range(40))


def study(data: dict, batch: int = 10) -> dict:
    return {
        "study": "files",
        "base": {
            "data": data,
            "model": {"hidden": [8]},
            "train": {"iterations": 20, "batch_size": batch, "eval_every": 10},
        },
        "grid": {"model.activation": ["relu"]},
    }
