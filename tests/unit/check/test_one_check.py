"""`study.cells`, `study run --dry-run` and `study run` ask one function (`study.check.study_plan.check`):
a set of bad studies, on tiny arrays written here, is refused by the first two with the same one line."""

from __future__ import annotations

import numpy as np
import pytest

import study
from study import cli
from study.errors import StudyError

BASE = """study: agree
base:
  data: {format: npz, path: tiny.npz}
  model: {hidden: [8]}
  train: {iterations: 20, batch_size: 16, eval_every: 10}
"""

# name -> what follows `base` (or replaces a part of it), each a mistake one rule catches
BAD = {
    "unknown key": "grid: {model.activaton: [relu, tanh]}\n",
    "value every exclude removes": (
        "grid: {model.activation: [relu, tanh, sigmoid]}\nexclude: [{model.activation: sigmoid}]\n"
    ),
    "batch larger than the data": "grid: {train.batch_size: [16, 5000]}\n",
    "explicit setting without effect": "grid: {optimizer.momentum: [0.5, 0.9]}\n",
    "expect selector matching no cell": (
        "grid: {model.activation: [relu, tanh]}\nexpect:\n  - cells: {activation: sigmoid}\n"
        "    final_test_acc: [0.1, 1.0]\n"
    ),
    "two numerics modes": "grid: {train.numerics: [exact, fast]}\n",
    "regression loss on class labels": "grid: {model.loss: [mse, mae]}\n",
    "train size beyond the data": "grid: {data.train_size: [32, 100000]}\n",
}


@pytest.fixture
def tiny_npz(tmp_cwd):
    """64 training and 32 test samples of 4 features, 3 classes."""
    rng = np.random.default_rng(0)
    np.savez(
        tmp_cwd / "tiny.npz",
        x_train=rng.normal(size=(64, 4)).astype("float32"),
        y_train=rng.integers(0, 3, 64),
        x_test=rng.normal(size=(32, 4)).astype("float32"),
        y_test=rng.integers(0, 3, 32),
    )
    return tmp_cwd


def refusals(path, capsys) -> tuple[str, str]:
    """(what study.cells raised, what --dry-run printed on stderr), each one line."""
    with pytest.raises(StudyError) as raised:
        study.cells(path)
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    return str(raised.value), err.removeprefix("error: ").strip()


@pytest.mark.parametrize("name", BAD)
def test_cells_and_the_dry_run_refuse_the_same_bad_study_with_the_same_line(name, tiny_npz, capsys):
    path = tiny_npz / "bad.yaml"
    path.write_text(BASE + BAD[name])
    from_cells, from_dry_run = refusals(path, capsys)
    assert from_cells == from_dry_run
    assert str(path) in from_cells or "bad.yaml" in from_cells
    assert not (tiny_npz / "mlruns").exists()  # nothing written


def test_a_good_study_gives_the_dry_runs_cells(tiny_npz, capsys):
    path = tiny_npz / "good.yaml"
    path.write_text(BASE + "grid: {model.activation: [relu, tanh]}\nseeds: 2\n")
    planned = study.cells(path)
    assert cli.main(["run", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert list(planned["name"]) == ["relu · seed 0", "relu · seed 1", "tanh · seed 0", "tanh · seed 1"]
    for name, config_hash in zip(planned["name"], planned["config_hash"]):
        assert f"{config_hash}  {name}" in out
    assert not (tiny_npz / "mlruns").exists()
