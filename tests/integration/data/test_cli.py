"""Data files through `study run` that train: a CSV study with a validation split, a regression CSV, a
convnet on colour images from an NPZ, an image-folder study; Fashion-MNIST pointed at MNIST refused.
The refusals that train nothing are in tests/unit/data/test_cli.py."""

from __future__ import annotations

import json

import numpy as np

from study import cli
from tests.support.data_files import TABLE, folders, study


def test_fashion_mnist_pointed_at_mnist_is_refused(tmp_cwd, mnist_dir, capsys):
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(study({"name": "fashion_mnist", "dir": str(mnist_dir), "train_size": 100})))
    assert cli.main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{mnist_dir}: holds the published mnist files, not fashion_mnist" in err
    assert not (tmp_cwd / "mlruns").exists()


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


def test_an_image_folder_study_trains_with_exact_numerics(tmp_cwd, capsys):
    folders(tmp_cwd / "pics", {"dark": [10, 20, 30, 40, 50, 60], "light": [200, 210, 220, 230, 240, 250]})
    doc = study({"format": "images", "path": "pics", "test_split": {"size": 4}, "image_size": [6, 6]}, batch=4)
    doc["base"]["model"] = {"layers": CONV}
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert cli.main(["run", str(path)]) == 0, capsys.readouterr().err
    assert "relu · seed 0  done" in capsys.readouterr().out
