"""A first convolutional study's dry run times TensorFlow once on this machine (study/execution/kind_probe.py,
study/engine/speed_probe.py in a process of its own) and corrects its estimate with what it measured."""

from __future__ import annotations

import json

import yaml

from study import cli
from study.runtime.calibration import calibration

CONV_STUDY = {
    "study": "first_conv",
    "base": {
        "data": {"name": "mnist", "train_size": 2000, "test_size": 500},
        "train": {"iterations": 40_000, "batch_size": 50, "eval_every": 100},
    },
    "architectures": {
        "small": [
            {"type": "conv2d", "filters": 32, "kernel": 5},
            {"type": "activation", "name": "relu"},
            {"type": "max_pool", "pool": 2},
            {"type": "dense", "units": 10},
        ]
    },
    "grid": {"model.arch": ["small"]},
    "seeds": [0],
}


def test_a_first_conv_studys_dry_run_probes_once_and_its_estimate_says_so(
    tmp_cwd, mnist_dir, tmp_path, monkeypatch, capsys
):
    monkeypatch.delenv("STUDY_SPEED_PROBE", raising=False)
    monkeypatch.setenv("STUDY_CACHE_DIR", str(tmp_path / "cache"))
    study_file = tmp_cwd / "first_conv.yaml"
    study_file.write_text(yaml.safe_dump(CONV_STUDY), encoding="utf-8")

    assert cli.main(["run", str(study_file), "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "timing TensorFlow on this machine's first exact/conv nets (cell small" in err
    seen = calibration().kinds["exact/conv"]
    assert seen.cells == 0 and seen.aa > 0 and seen.am > 0
    arithmetic, _ = calibration().factors("exact/conv")
    assert 0.1 < arithmetic < 10  # seconds of training, not of TensorFlow's import or the graph's build
    assert "as a short probe of these kinds trained here" in err

    assert cli.main(["run", str(study_file), "--dry-run"]) == 0  # recorded: no second probe
    again = capsys.readouterr().err
    assert "timing TensorFlow" not in again and "as a short probe of these kinds trained here" in again
    assert json.loads((tmp_path / "cache" / "calibration.json").read_text())["kinds"].keys() == {"exact/conv"}
    assert not (tmp_cwd / "mlruns").exists()  # nothing written to a store
