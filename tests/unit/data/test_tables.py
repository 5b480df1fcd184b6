"""Your own table in a CSV file: tiny tables written by the tests, good and bad."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from study.data.loading import load
from study.errors import DataError
from study.spec.data import DataConfig

TRAIN = "a,b,label\n1,2,0\n3,4.5,1\n-1,0,2\n7,8,1\n0.5,1e3,0\n"
TEST = "a,b,label\n2,2,1\n4,4,0\n"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def csv(path: Path, test: Path | None = None, **kw) -> DataConfig:
    if test is not None:
        kw["test_path"] = str(test)
    elif "test_split" not in kw:
        kw["test_split"] = {"size": 1}
    return DataConfig(format="csv", path=str(path), **kw)


def test_numeric_features_and_class_labels(tmp_path):
    train, test = write(tmp_path / "t.csv", TRAIN), write(tmp_path / "u.csv", TEST)
    ds = load(csv(train, test))
    assert ds.name == "t" and ds.kind == "csv" and ds.num_classes == 3
    np.testing.assert_array_equal(ds.x_train, np.array([[1, 2], [3, 4.5], [-1, 0], [7, 8], [0.5, 1000]], np.float32))
    np.testing.assert_array_equal(ds.y_train, [0, 1, 2, 1, 0])
    np.testing.assert_array_equal(ds.y_test, [1, 0])
    assert ds.digest == hashlib.sha256((TRAIN + TEST).encode()).hexdigest()[:16]


def test_label_column_anywhere_and_named_classes(tmp_path):
    text = "species,len,width\nsetosa,1,2\nvirginica,3,4\nsetosa,5,6\nversicolor,7,8\n"
    ds = load(csv(write(tmp_path / "iris.csv", text), label_column="species"))
    assert ds.class_names == ("setosa", "versicolor", "virginica") and ds.num_classes == 3
    np.testing.assert_array_equal(ds.y_train, [0, 2, 0])  # the last row is the test set (test_split size 1)
    np.testing.assert_array_equal(ds.y_test, [1])
    np.testing.assert_array_equal(ds.x_train[1], [3, 4])


def test_real_targets_and_gzip(tmp_path):
    text = "x1,x2,price\n1,2,10.5\n3,4,-2.25\n5,6,3e2\n"
    gz = tmp_path / "houses.csv.gz"
    gz.write_bytes(gzip.compress(text.encode(), mtime=0))
    ds = load(csv(gz, label_column="price", targets="real"))
    assert ds.name == "houses" and ds.targets == "real" and ds.num_outputs == 1 and ds.num_classes == 0
    np.testing.assert_array_equal(ds.y_train, np.array([10.5, -2.25], np.float32))
    assert ds.y_train.dtype == np.float32
    plain = write(tmp_path / "houses.csv", text)
    assert load(csv(plain, label_column="price", targets="real")).digest == ds.digest


BAD = {
    "missing label column": (TRAIN, TEST, {"label_column": "y"}, "t.csv: no column 'y' (columns: a, b, label)"),
    "non-numeric feature": (
        TRAIN.replace("3,4.5,1", "3,four,1"),
        TEST,
        {},
        "t.csv: line 3, column 'b': 'four' is not a number (1 such cells); every column but the label must be numeric",
    ),
    "empty cell": (TRAIN.replace("7,8,1", "7,,1"), TEST, {}, "t.csv: line 5, column 'b': is empty"),
    "non-integer label": (
        TRAIN.replace("-1,0,2", "-1,0,2.5"),
        TEST,
        {},
        "t.csv: column 'label' value 2.5 at index 2 is not a class integer (1 such values); set data.targets: real",
    ),
    "labels mixing numbers and names": (
        TRAIN.replace("7,8,1", "7,8,cat"),
        TEST,
        {},
        "line 5, column 'label': 'cat' is not a number (1 such cells); class labels are integers 0, 1, … or names",
    ),
    "negative label": (TRAIN.replace("-1,0,2", "-1,0,-2"), TEST, {}, "label -2 at index 2 is negative"),
    "test label out of range": (
        TRAIN,
        TEST.replace("4,4,0", "4,4,3"),
        {},
        "u.csv: test label 3 at index 1 is not among the training labels",
    ),
    "test lacks a column": (TRAIN, "a,label\n1,0\n", {}, "u.csv: lacks column 'b'"),
    "test has another column": (TRAIN, "a,b,c,label\n1,2,3,0\n", {}, "u.csv: has column 'c' that t.csv lacks"),
    "empty file": ("", TEST, {}, "t.csv: empty file"),
    "header only": ("a,b,label\n", TEST, {}, "t.csv: a header but no rows"),
    "label only": ("label\n0\n1\n", TEST, {}, "only the label column 'label'"),
    "duplicate column": ("a,a,label\n1,2,0\n3,4,1\n", TEST, {}, "column 'a' appears more than once"),
    "ragged row": (TRAIN + "1,2,3,4\n", TEST, {}, "t.csv: not a readable CSV"),
    "real target not a number": (
        TRAIN.replace("7,8,1", "7,8,n/a"),
        TEST,
        {"targets": "real"},
        "line 5, column 'label': 'n/a' is not a number (1 such cells); real targets (data.targets: real) must be numbers",
    ),
    "infinite feature": (TRAIN.replace("0.5,1e3", "0.5,inf"), TEST, {}, "line 6, column 'b': 'inf' is not a finite"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_tables_are_one_line_naming_the_file(tmp_path, case):
    train_text, test_text, settings, needle = BAD[case]
    train, test = write(tmp_path / "t.csv", train_text), write(tmp_path / "u.csv", test_text)
    with pytest.raises(DataError) as exc:
        load(csv(train, test, **settings))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(str(tmp_path)) and needle in msg, msg


def test_test_class_name_not_in_training(tmp_path):
    train = write(tmp_path / "t.csv", "c,x\ncat,1\ndog,2\n")
    test = write(tmp_path / "u.csv", "c,x\nemu,1\n")
    with pytest.raises(DataError, match=r"u.csv: line 2, column 'c': class 'emu' is not among the training classes"):
        load(csv(train, test, label_column="c"))


def test_a_csv_of_more_values_than_its_limit_is_refused_before_parsing(tmp_path, monkeypatch):
    """The limit (20,000,000 cells, read as text first) lowered here to the training table's 18 cells."""
    import study.data.tables as tables

    train, test = write(tmp_path / "t.csv", TRAIN), write(tmp_path / "u.csv", TEST)
    monkeypatch.setattr(tables, "MAX_CSV_VALUES", 19)  # 3 columns × 6 lines, and one for the end
    assert load(csv(train, test)).x_train.shape == (5, 2)
    write(train, TRAIN + "9,9,1\n")
    with pytest.raises(DataError) as refused:
        load(csv(train, test))
    (line,) = str(refused.value).splitlines()
    assert line == (
        f"{train}: about 22 values, more than the 19 a CSV may hold (it is read as text first); "
        "save a larger table as .npz arrays (data.format: npz)"
    )
