"""Holding samples out of the training data: the test set of a one-file source, or a validation set.

`size` takes that many samples from the first or last end, in file order; `fraction` draws that
share at random with `seed` (NumPy's PCG64). Both parts keep the file's order, so `train_size`
still means the first N of what remains.
"""

from __future__ import annotations

import numpy as np

from study.errors import DataError
from study.spec.data import HoldoutConfig


def held_indices(n: int, spec: HoldoutConfig, where: str, key: str) -> np.ndarray:
    """The sorted indices of the samples held out of `n` (at least one held, at least one kept)."""
    if spec.fraction is not None:
        k = int(round(spec.fraction * n))
        if k < 1 or k >= n:
            raise DataError(
                f"{where}: data.{key}.fraction={spec.fraction:g} of {n} samples holds out {k}; need 1..{n - 1}"
            )
        return np.sort(np.random.default_rng(spec.seed).permutation(n)[:k])
    size = int(spec.size or 0)
    if size >= n:
        raise DataError(f"{where}: data.{key}.size={size} but only {n} samples: need at most {n - 1}")
    return np.arange(size) if spec.take == "first" else np.arange(n - size, n)


def hold_out(
    x: np.ndarray, y: np.ndarray, spec: HoldoutConfig, where: str, key: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x kept, y kept, x held out, y held out)."""
    held = held_indices(len(y), spec, where, key)
    keep = np.ones(len(y), dtype=bool)
    keep[held] = False
    return x[keep], y[keep], x[held], y[held]
