"""Checks shared by the user-file sources (npz, csv): numeric finite inputs, class or real targets."""

from __future__ import annotations

import numpy as np

from study.errors import DataError


def features(where: str, x: np.ndarray, role: str) -> np.ndarray:
    """Inputs must be a numeric array of at least one feature per sample, without NaN or infinity."""
    if x.dtype == np.bool_ or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise DataError(f"{where}: {role} has dtype {x.dtype}, expected numbers (integers or floats)")
    if x.ndim < 2:
        raise DataError(f"{where}: {role} has shape {x.shape}; expected (samples, features…), one row per sample")
    if x.shape[0] == 0:
        raise DataError(f"{where}: {role} has no samples")
    if np.issubdtype(x.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))
        if bad.size:
            raise DataError(f"{where}: {role} sample {int(bad[0])} holds NaN or infinity ({bad.size} such samples)")
    return x


def same_length(where: str, x: np.ndarray, y: np.ndarray, x_role: str, y_role: str) -> None:
    """One target per sample."""
    if len(x) != len(y):
        raise DataError(f"{where}: {x_role} has {len(x)} samples but {y_role} has {len(y)}")


def class_labels(where: str, y: np.ndarray, role: str) -> np.ndarray:
    """Class labels: one non-negative integer per sample, (N,) or (N, 1); returned as int64 (N,)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        raise DataError(
            f"{where}: {role} has shape {y.shape}; class labels are one integer per sample (set data.targets: real "
            "for real-valued targets)"
        )
    if np.issubdtype(y.dtype, np.floating):
        bad = np.flatnonzero(~np.isfinite(y) | (y != np.round(y)))
        if bad.size:
            i = int(bad[0])
            raise DataError(
                f"{where}: {role} value {y[i].item()!r} at index {i} is not a class integer ({bad.size} such values); "
                "set data.targets: real for real-valued targets"
            )
    elif not np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_:
        raise DataError(f"{where}: {role} has dtype {y.dtype}, expected class integers 0, 1, …")
    labels = y.astype(np.int64)
    negative = np.flatnonzero(labels < 0)
    if negative.size:
        i = int(negative[0])
        raise DataError(f"{where}: {role} label {labels[i]} at index {i} is negative; classes are 0, 1, …")
    return labels


def class_count(train_where: str, y_train: np.ndarray, test_where: str, y_test: np.ndarray | None) -> int:
    """Classes 0..K-1 from the training labels (at least two distinct ones); every test label must be one
    the training labels hold, or the model is scored on a class it never saw."""
    present = np.unique(y_train)
    if present.size < 2:
        raise DataError(
            f"{train_where}: every training label is {int(present[0])}; a classifier needs at least two classes"
        )
    k = int(present[-1]) + 1
    if y_test is not None:
        bad = np.flatnonzero(~np.isin(y_test, present))
        if bad.size:
            i = int(bad[0])
            held = f"0..{k - 1}" if present.size == k else ", ".join(map(str, present[:12].tolist()))
            raise DataError(
                f"{test_where}: test label {int(y_test[i])} at index {i} is not among the training labels "
                f"({held}; {bad.size} such labels)"
            )
    return k


def real_targets(where: str, y: np.ndarray, role: str) -> np.ndarray:
    """Real targets: numeric and finite, (N,) or (N, outputs)."""
    if y.dtype == np.bool_ or not (np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.floating)):
        raise DataError(f"{where}: {role} has dtype {y.dtype}, expected numbers")
    if y.ndim not in (1, 2):
        raise DataError(f"{where}: {role} has shape {y.shape}; real targets are (samples,) or (samples, outputs)")
    bad = np.flatnonzero(~np.isfinite(y.reshape(len(y), -1)).all(axis=1))
    if bad.size:
        raise DataError(f"{where}: {role} at index {int(bad[0])} is NaN or infinite ({bad.size} such targets)")
    return y
