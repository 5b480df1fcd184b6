"""Bad data files through `study run`: one line naming the file, exit 2, no store; a loss that does
not fit the targets refused. The studies that train on such files are in tests/integration/data/test_cli.py."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from study import cli
from tests.support.data_files import TABLE, cifar10_files, folders, study, write_folder


def npz_missing_array(root: Path) -> tuple[dict, str]:
    np.savez(root / "d.npz", x_train=np.zeros((20, 3)), y_train=np.zeros(20, dtype=int), x_test=np.zeros((5, 3)))
    return {"format": "npz", "path": str(root / "d.npz")}, f"{root / 'd.npz'}: no array 'y_test'"


def npz_lengths(root: Path) -> tuple[dict, str]:
    np.savez(root / "d.npz", x_train=np.zeros((20, 3)), y_train=np.arange(19) % 2)
    return {"format": "npz", "path": str(root / "d.npz"), "test_split": {"size": 4}}, "has 20 samples but array"


def csv_text(root: Path) -> tuple[dict, str]:
    (root / "t.csv").write_text(TABLE.replace("\n3,4,1\n", "\n3,x,1\n"))
    return {"format": "csv", "path": str(root / "t.csv"), "test_split": {"size": 5}}, "column 'b': 'x' is not a number"


def csv_label(root: Path) -> tuple[dict, str]:
    (root / "t.csv").write_text(TABLE.replace("\n3,4,1\n", "\n3,4,0.5\n"))
    return {
        "format": "csv",
        "path": str(root / "t.csv"),
        "test_split": {"size": 5},
    }, "value 0.5 at index 3 is not a class"


def csv_column(root: Path) -> tuple[dict, str]:
    (root / "t.csv").write_text(TABLE)
    data = {"format": "csv", "path": str(root / "t.csv"), "test_split": {"size": 5}, "label_column": "y"}
    return data, "t.csv: no column 'y'"


def empty_class(root: Path) -> tuple[dict, str]:
    folders(root / "pics", {"cat": [1, 2, 3], "dog": [4, 5, 6]})
    (root / "pics" / "emu").mkdir()
    data = {"format": "images", "path": str(root / "pics"), "test_split": {"size": 1}, "image_size": [4, 4]}
    return data, f"{root / 'pics' / 'emu'}: class folder holds no images"


def cifar_label(root: Path) -> tuple[dict, str]:
    files = cifar10_files()
    files["test_batch"][b"labels"][0] = 11
    write_folder(root, "cifar-10-batches-py", {k: pickle.dumps(v) for k, v in files.items()})
    return {"name": "cifar10", "dir": str(root)}, "test_batch: label 11 at index 0 is outside 0..9"


CASES = {
    f.__name__: f for f in (npz_missing_array, npz_lengths, csv_text, csv_label, csv_column, empty_class, cifar_label)
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_file_exits_2_with_one_line_and_no_store(tmp_cwd, capsys, case):
    data, needle = CASES[case](tmp_cwd)
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(study(data, batch=2)), encoding="utf-8")
    code = cli.main(["run", str(path), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and needle in err[0], err
    assert not (tmp_cwd / "mlruns").exists()


@pytest.mark.parametrize(
    "targets,loss,needle",
    [
        ("real", "cross_entropy", "model.loss: cross_entropy needs class labels and t has real targets"),
        ("classes", "mse", "model.loss: mse is a regression loss and t has class labels: set data.targets: real"),
    ],
)
def test_a_loss_that_does_not_fit_the_targets_exits_2(tmp_cwd, capsys, targets, loss, needle):
    (tmp_cwd / "t.csv").write_text(TABLE)
    doc = study({"format": "csv", "path": "t.csv", "test_split": {"size": 10}, "targets": targets})
    doc["base"]["model"]["loss"] = loss
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0], err
    assert not (tmp_cwd / "mlruns").exists()
