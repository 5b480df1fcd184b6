"""A tiny valid IDX dataset and a good study on it, which the bad-input tests break one thing of; the
check that bad input is refused in one line with no store; a hostile label."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np

N_TRAIN, N_TEST = 40, 20  # a tiny IDX dataset written per test


def write_idx(directory: Path) -> Path:
    """Four valid raw IDX files of random digits: N_TRAIN training and N_TEST test images."""
    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", N_TRAIN), ("t10k", N_TEST)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        (directory / f"{prefix}-images-idx3-ubyte").write_bytes(
            struct.pack(">IIII", 0x803, n, 28, 28) + images.tobytes()
        )
        (directory / f"{prefix}-labels-idx1-ubyte").write_bytes(struct.pack(">II", 0x801, n) + labels.tobytes())
    return directory


def good_study(data_dir: Path) -> dict:
    """A valid study on the tiny dataset; each bad-input case breaks one thing."""
    return {
        "study": "bad",
        "base": {
            "data": {"name": "mnist", "dir": str(data_dir)},
            "model": {"hidden": [8]},
            "train": {"iterations": 20, "batch_size": 10, "eval_every": 10},
        },
        "grid": {"model.activation": ["relu", "sigmoid"]},
    }


def assert_refused(root: Path, code: int, err: str, needle: str) -> None:
    """Exit 2, exactly one line on stderr holding `needle`, and no store created."""
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert not (root / "mlruns").exists(), "bad input wrote a store"


HOSTILE_LABEL = "lr/10\nsecond line\r\x1b[31m red\x07\tand\u2028more"

LABELLED = """\
study: labels
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  train: {iterations: 20, batch_size: 20, eval_every: 10}
grid:
  net:
    - {label: %s, optimizer.lr: 0.1}
""" % json.dumps(HOSTILE_LABEL)
