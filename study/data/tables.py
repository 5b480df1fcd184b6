"""Your own table in a CSV file: one row per sample, a header row, every column but the label a number.

``data.label_column`` names the target column. With ``data.targets: classes`` it holds class
integers 0, 1, … or class names (every value a name: sorted, they become 0, 1, …); with
``data.targets: real`` it holds real numbers (regression). The test set is a second file with the
same columns (``data.test_path``) or held out of the first (``data.test_split``). Files may be
gzipped (``.csv.gz``). The digest hashes the uncompressed bytes of the file(s), train then test.
Read with pandas (every cell as text first, so a bad value is reported by row and column).
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

import study.data.arrays as arrays
from study.data.dataset import Raw
from study.data.digest import bytes_digest
from study.data.reading import read_bytes, squeezed_message
from study.errors import DataError

MAX_CSV_VALUES = 20_000_000  # cells of one CSV: each is read as text first (~60 bytes in memory), ~1.2 GB at most


def read(path: Path, test_path: Path | None, label_column: str, targets: str) -> Raw:
    """Read, check and hash the training table (and the test table, when there is one)."""
    blobs = [read_bytes(path)] + ([read_bytes(test_path)] if test_path else [])
    train = _frame(path, blobs[0], label_column)
    columns = [c for c in train.columns if c != label_column]
    x_train = _numbers(path, train, columns)
    x_test = y_test = test = None
    if test_path is not None:
        test = _frame(test_path, blobs[1], label_column)
        extra = [c for c in test.columns if c not in train.columns]
        missing = [c for c in train.columns if c not in test.columns]
        if missing or extra:
            what = f"lacks column {missing[0]!r}" if missing else f"has column {extra[0]!r} that {path.name} lacks"
            raise DataError(f"{test_path}: {what}; the test table needs the training table's columns")
        x_test = _numbers(test_path, test, columns)
    where, test_where = str(path), str(test_path or path)
    class_names: tuple[str, ...] = ()
    num_classes = 0
    if targets == "classes":
        y_train, y_test, class_names = _classes(path, train[label_column], test_path, test, label_column)
        y_train = arrays.class_labels(where, y_train, f"column {label_column!r}")
        if y_test is not None:
            y_test = arrays.class_labels(test_where, y_test, f"column {label_column!r}")
        num_classes = len(class_names) or arrays.class_count(where, y_train, test_where, y_test)
    else:
        rule = "real targets (data.targets: real) must be numbers"
        y_train = _numbers(path, train, [label_column], rule)[:, 0]
        if test is not None:
            y_test = _numbers(test_path or path, test, [label_column], rule)[:, 0]
    return Raw(
        x_train,
        y_train,
        x_test,
        y_test,
        bytes_digest(blobs),
        where,
        "csv",
        where,
        test_where,
        num_classes,
        class_names,
        tuple(columns),
    )


def check_value_count(path: Path, blob: bytes) -> None:
    """Refuse a table of more than MAX_CSV_VALUES cells (counted by separators, before parsing)."""
    values = blob.count(b",") + blob.count(b"\n") + 1
    if values > MAX_CSV_VALUES:
        raise DataError(
            f"{path}: about {values:,} values, more than the {MAX_CSV_VALUES:,} a CSV may hold (it is read as text "
            "first); save a larger table as .npz arrays (data.format: npz)"
        )


def _frame(path: Path, blob: bytes, label_column: str):
    """The table as text cells, with its label column and at least one feature column and row."""
    import pandas as pd

    check_value_count(path, blob)
    try:
        frame = pd.read_csv(io.BytesIO(blob), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.EmptyDataError as exc:
        raise DataError(f"{path}: empty file: a CSV needs a header row and one row per sample") from exc
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable CSV: {squeezed_message(exc)}") from exc
    columns = [str(c) for c in frame.columns]
    header = next(csv.reader([blob.split(b"\n", 1)[0].decode("utf-8", errors="replace")]), [])
    dupes = sorted({c for c in header if header.count(c) > 1})
    if dupes:
        raise DataError(f"{path}: column {dupes[0]!r} appears more than once; each column needs its own name")
    if label_column not in columns:
        shown = ", ".join(columns[:12]) + (", …" if len(columns) > 12 else "")
        raise DataError(f"{path}: no column {label_column!r} (columns: {shown}); set data.label_column")
    if len(columns) < 2:
        raise DataError(f"{path}: only the label column {label_column!r}; a sample needs at least one feature column")
    if len(frame) == 0:
        raise DataError(f"{path}: a header but no rows")
    return frame


def _numbers(
    path: Path, frame, columns: list[str], rule: str = "every column but the label must be numeric"
) -> np.ndarray:
    """The given columns as a float64 matrix; the first empty or non-numeric cell is one line."""
    import pandas as pd

    out = np.empty((len(frame), len(columns)), dtype=np.float64)
    for j, column in enumerate(columns):
        text = frame[column].str.strip()
        values = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
        bad = np.flatnonzero(np.isnan(values) & (text.str.lower() != "nan").to_numpy() | (text == "").to_numpy())
        if bad.size:
            i = int(bad[0])
            shown = frame[column].iloc[i]
            what = "is empty" if shown.strip() == "" else f"{shown!r} is not a number"
            raise DataError(f"{path}: line {i + 2}, column {column!r}: {what} ({bad.size} such cells); {rule}")
        finite = np.isfinite(values)
        if not finite.all():
            i = int(np.flatnonzero(~finite)[0])
            raise DataError(
                f"{path}: line {i + 2}, column {column!r}: {frame[column].iloc[i]!r} is not a finite number"
            )
        out[:, j] = values
    return out


def _classes(path: Path, train_col, test_path: Path | None, test, label_column: str):
    """Class labels as numbers, or (when every value is a name) as indices into the sorted names."""
    import pandas as pd

    text = train_col.str.strip()
    numeric = pd.to_numeric(text, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isnan(numeric).all():  # numeric labels: every one must be a number
        rule = "class labels are integers 0, 1, … or names, not both"
        y_train = _numbers(path, pd.DataFrame({label_column: train_col}), [label_column], rule)[:, 0]
        y_test = None
        if test is not None:
            y_test = _numbers(test_path or path, test, [label_column], rule)[:, 0]
        return y_train, y_test, ()
    empty = np.flatnonzero((text == "").to_numpy())
    if empty.size:
        raise DataError(
            f"{path}: line {int(empty[0]) + 2}, column {label_column!r}: is empty; every sample needs a label"
        )
    names = tuple(sorted(set(text)))
    index = {n: i for i, n in enumerate(names)}
    y_train = np.array([index[v] for v in text], dtype=np.int64)
    y_test = None
    if test is not None:
        test_text = test[label_column].str.strip()
        unknown = [(i, v) for i, v in enumerate(test_text) if v not in index]
        if unknown:
            i, v = unknown[0]
            raise DataError(
                f"{test_path}: line {i + 2}, column {label_column!r}: class {v!r} is not among the training "
                f"classes ({', '.join(names[:10])}{', …' if len(names) > 10 else ''})"
            )
        y_test = np.array([index[v] for v in test_text], dtype=np.int64)
    if len(names) < 2:
        raise DataError(f"{path}: column {label_column!r} holds one class ({names[0]!r}); a classifier needs two")
    return y_train, y_test, names
