"""The shipped data studies: configs/rings.yaml on examples/make_rings.py's table, and
configs/fashion_mnist.yaml on Debian's dataset-fashion-mnist (skipped where it is not installed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from examples.make_rings import main as make_rings
from study.check.validated_study import load_study
from study.data.idx import KNOWN_DIGESTS
from study.data.loading import load
from study.plan.grid import expand
from tests.support.paths import REPO

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


def test_make_rings_is_deterministic_and_balanced(tmp_path):
    make_rings(["--out", str(tmp_path / "a"), "--train", "50", "--test", "20"])
    make_rings(["--out", str(tmp_path / "b"), "--train", "50", "--test", "20"])
    for name in ("train.csv", "test.csv"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    lines = (tmp_path / "a" / "test.csv").read_text().splitlines()
    assert lines[0] == "x1,x2,ring" and [line[-1] for line in lines[1:]].count("0") == 10


def test_rings_study_reads_the_generated_table(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the study's paths are relative: data/rings/…
    make_rings([])
    study = load_study(REPO / "configs" / "rings.yaml")
    cells = expand(study)
    assert len(cells) == 5
    ds = load(cells[0].settings.data)
    assert ds.name == "rings" and ds.kind == "csv" and ds.num_classes == 2
    assert ds.info.sizes == {"train": 1600, "validation": 400, "test": 1000}
    assert ds.input_shape == (2,) and int(ds.y_test.sum()) == 500
    radius = np.hypot(ds.x_train[:, 0], ds.x_train[:, 1])
    assert radius[ds.y_train == 0].mean() < 1.1 < 1.9 < radius[ds.y_train == 1].mean()


def test_fashion_mnist_study_validates_everywhere():
    cells = expand(load_study(REPO / "configs" / "fashion_mnist.yaml"))
    assert len(cells) == 6 and cells[0].settings.data.dir == str(FASHION_DIR)


@pytest.mark.skipif(
    not FASHION_DIR.is_dir(), reason=f"{FASHION_DIR} missing: `apt-get install dataset-fashion-mnist` to run this"
)
def test_the_installed_fashion_mnist_is_the_published_one():
    ds = load(expand(load_study(REPO / "configs" / "fashion_mnist.yaml"))[0].settings.data)
    assert KNOWN_DIGESTS[ds.digest] == "fashion_mnist"
    assert ds.x_train.shape == (60000, 784) and np.bincount(ds.y_test).tolist() == [1000] * 10


def test_regression_study_reads_the_generated_table(tmp_path, monkeypatch, capsys):
    from examples.make_regression_table import main as make_table

    monkeypatch.chdir(tmp_path)
    make_table(["--train", "300", "--test", "100"])
    assert "best linear fit: test MAE" in capsys.readouterr().out
    cells = expand(load_study(REPO / "configs" / "regression_table.yaml"))
    assert len(cells) == 6 and {c.settings.model.loss for c in cells} == {"mse", "mae"}
    ds = load(cells[0].settings.data)
    assert ds.targets == "real" and ds.y_train.dtype == np.float32 and ds.num_outputs == 1
    assert ds.info.sizes == {"train": 270, "validation": 30, "test": 100} and ds.input_shape == (3,)
