"""Feature vectors on one scale (`data.standardize`), and how far apart their scales are (the pre-run warning).

The statistics are the training split's only — after the test and validation hold-outs and `train_size` —
so nothing of the validation or test samples leaks into what the network sees; they are then applied to
every split. A constant feature (std 0) is centred and left undivided. Both passes work in float64 over
blocks of rows, so a large array never has a float64 copy.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

# Feature stds differing by more than this factor draw the pre-run warning: gradient descent's step is
# bounded by the largest-scale feature and a feature's curvature grows with its scale squared, so at 100×
# the smallest-scale feature learns ~10,000 times slower (raw breast-cancer features: ~50,000×).
SPREAD_WARNING = 100.0
BLOCK_BYTES = 1 << 24  # float64 bytes of one block of rows


@dataclass(frozen=True, eq=False)
class Standardization:
    """Per-feature mean and std of the training split (float64), and the features' names where known."""

    mean: np.ndarray
    std: np.ndarray  # population std (ddof 0, as scikit-learn's StandardScaler); 0 for a constant feature
    features: tuple[str, ...] = ()

    def record(self) -> dict[str, Any]:
        """JSON-ready {feature: [...], mean: [...], std: [...]}, for the cell's run."""
        names = list(self.features) or [f"feature {i}" for i in range(len(self.mean))]
        return {"feature": names, "mean": self.mean.tolist(), "std": self.std.tolist()}


def fit(x_train: np.ndarray, features: tuple[str, ...] = ()) -> Standardization:
    """The per-feature statistics of the training inputs (N, features)."""
    mean, std = column_stats(x_train)
    return Standardization(mean, std, features)


def standardize(x: np.ndarray, stats: Standardization) -> None:
    """Scale float32 inputs (N, features) in place: (x - mean) / std, a constant feature only centred."""
    scale = np.where(stats.std > 0, stats.std, 1.0)
    for rows in blocks(x):
        x[rows] = (x[rows].astype(np.float64) - stats.mean) / scale


def column_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-column mean and population std of (N, features), two passes in float64; a column whose values
    are all equal has std exactly 0 (its mean's rounding would leave a tiny one)."""
    total, low, high = np.zeros(x.shape[1]), np.full(x.shape[1], np.inf), np.full(x.shape[1], -np.inf)
    for rows in blocks(x):
        total += x[rows].sum(axis=0, dtype=np.float64)
        low, high = np.minimum(low, x[rows].min(axis=0)), np.maximum(high, x[rows].max(axis=0))
    mean = total / len(x)
    squares = np.zeros(x.shape[1])
    for rows in blocks(x):
        squares += np.square(x[rows].astype(np.float64) - mean).sum(axis=0)
    return mean, np.where(low == high, 0.0, np.sqrt(squares / len(x)))


def blocks(x: np.ndarray) -> Iterator[slice]:
    """Slices of rows whose float64 copy takes about BLOCK_BYTES."""
    step = max(1, BLOCK_BYTES // max(1, 8 * x.shape[1]))
    for start in range(0, len(x), step):
        yield slice(start, start + step)


@dataclass(frozen=True)
class Spread:
    """The features with the largest and the smallest non-zero std."""

    widest: str
    widest_std: float
    narrowest: str
    narrowest_std: float

    @property
    def ratio(self) -> float:
        return self.widest_std / self.narrowest_std


def spread(x: np.ndarray, features: tuple[str, ...] = ()) -> Spread | None:
    """How far apart the scales of inputs (N, features) are; None unless two features vary."""
    if x.ndim != 2 or len(x) == 0:
        return None
    std = column_stats(x)[1]
    varying = np.flatnonzero(std > 0)
    if len(varying) < 2:
        return None
    wide, narrow = varying[np.argmax(std[varying])], varying[np.argmin(std[varying])]
    return Spread(feature_name(wide, features), float(std[wide]), feature_name(narrow, features), float(std[narrow]))


def feature_name(i: int, features: tuple[str, ...]) -> str:
    """A CSV column by its name, an array's column by its index."""
    return repr(features[i]) if i < len(features) else f"feature {i}"
