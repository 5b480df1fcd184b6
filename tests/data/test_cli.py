"""Bad data files through `study run`: one line naming the file, exit 2, no store; a good CSV study trains."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np
import pytest

from study import cli
from tests.data.test_images import folders
from tests.data.test_keras_formats import cifar10_files, write_folder

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


def test_fashion_mnist_pointed_at_mnist_is_refused(tmp_cwd, mnist_dir, capsys):
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(study({"name": "fashion_mnist", "dir": str(mnist_dir), "train_size": 100})))
    assert cli.main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{mnist_dir}: holds the published mnist files, not fashion_mnist" in err
    assert not (tmp_cwd / "mlruns").exists()


@pytest.mark.slow  # trains one tiny cell
def test_a_csv_study_with_a_validation_split_trains(tmp_cwd, capsys):
    (tmp_cwd / "t.csv").write_text(TABLE)
    data = {"format": "csv", "path": "t.csv", "test_split": {"size": 10}, "validation": {"fraction": 0.2, "seed": 1}}
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(study(data)), encoding="utf-8")
    assert cli.main(["run", str(path), "--quiet"]) == 0
    from study.store.runs import Store

    store = Store()
    runs = store.client.search_runs([store.client.get_experiment_by_name("files").experiment_id])
    cell = next(r for r in runs if r.data.tags.get("study.role") == "cell")
    assert cell.info.status == "FINISHED" and cell.data.tags["study.dataset"] == "t"
    assert len(cell.data.tags["study.dataset_digest"]) == 16


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


@pytest.mark.slow  # trains one tiny regression cell
def test_a_regression_csv_study_prints_its_mae(tmp_cwd, capsys):
    rows = "".join(f"{i % 7},{(i * 3) % 5},{(i % 7) * 0.5 - (i * 3) % 5}\n" for i in range(40))
    (tmp_cwd / "r.csv").write_text("a,b,y\n" + rows)
    doc = study({"format": "csv", "path": "r.csv", "test_split": {"size": 10}, "label_column": "y", "targets": "real"})
    doc["base"]["model"]["loss"] = "mae"
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["run", str(path)]) == 0
    out = capsys.readouterr().out
    assert "test MAE" in out and "relu · seed 0  done" in out


CONV = [
    {"type": "conv2d", "filters": 4, "kernel": 3},
    {"type": "activation"},
    {"type": "max_pool"},
    {"type": "dense", "units": 2},
]


@pytest.mark.slow  # trains one tiny convolutional cell
def test_a_convnet_trains_on_colour_images_from_an_npz(tmp_cwd, capsys):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (60, 8, 8, 3), dtype=np.uint8)
    y = (x[:, :, :, 0].mean(axis=(1, 2)) > 127).astype(np.int64)  # bright red or not
    np.savez(tmp_cwd / "pics.npz", x_train=x[:40], y_train=y[:40], x_test=x[40:], y_test=y[40:])
    doc = study({"format": "npz", "path": "pics.npz"})
    doc["base"]["model"] = {"layers": CONV}
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["run", str(path)]) == 0, capsys.readouterr().err
    assert "relu · seed 0  done" in capsys.readouterr().out


@pytest.mark.slow  # decodes images with TensorFlow in the driver, then trains with exact numerics
def test_an_image_folder_study_trains_with_exact_numerics(tmp_cwd, capsys):
    folders(tmp_cwd / "pics", {"dark": [10, 20, 30, 40, 50, 60], "light": [200, 210, 220, 230, 240, 250]})
    doc = study({"format": "images", "path": "pics", "test_split": {"size": 4}, "image_size": [6, 6]}, batch=4)
    doc["base"]["model"] = {"layers": CONV}
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["run", str(path)]) == 0, capsys.readouterr().err
    assert "relu · seed 0  done" in capsys.readouterr().out
