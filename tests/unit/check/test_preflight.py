"""The whole study checked before the first run (study/check/preflight.py): data sizes from the IDX headers,
every structure's shapes, settings that can never take effect, cells that would train the same numbers
twice, grid values no cell uses — each one line, in `--dry-run` too, before the store exists."""

from __future__ import annotations

import pytest

from study import cli
from study.check.preflight import preflight
from study.check.validated_study import load_study
from study.errors import ConfigError
from study.plan.grid import expand
from tests.support.studies import other

GOOD = """\
study: probe
base:
  data: {name: mnist, train_size: 500, test_size: 200}
  model: {hidden: [40, 20], activation: relu, initializer: he}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 60, batch_size: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
"""


def variant(old: str, new: str, text: str = GOOD) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


BAD = [
    (
        "train_size beyond the data",
        variant("train_size: 500", "train_size: 70000"),
        ["data.train_size: 70000", "only 60000 train"],
    ),
    (
        "test_size beyond the data",
        variant("test_size: 200", "test_size: 10001"),
        ["data.test_size: 10001", "only 10000 test"],
    ),
    (
        "batch larger than the whole training set",
        variant("train_size: 500, ", "").replace("batch_size: 50", "batch_size: 60001"),
        ["train.batch_size: 60001", "60000 samples"],
    ),
    (
        "a kernel larger than its input",
        other(
            "{type: conv2d, filters: 4, kernel: 5}",
            "{type: max_pool, pool: 8}",
            "{type: conv2d, filters: 4, kernel: 5}",
            "{type: dense, units: 10}",
        ),
        ["architectures.other", "model.layers[2] (conv2d 4 5×5", "larger than its padded input 3×3×4", "cell 'other'"],
    ),
    (
        "a pool on a flat vector",
        other("{type: dense, units: 30}", "{type: max_pool, pool: 2}", "{type: dense, units: 10}"),
        ["model.layers[1] (max_pool 2", "needs an image", "input is 30"],
    ),
    (
        "a stack that does not end in the classes",
        other("{type: conv2d, filters: 4, kernel: 3}", "{type: dense, units: 7}"),
        ["must end in a dense layer of 10 units", "after model.layers[1] is 7"],
    ),
    (
        "a stack that ends on an image",
        other("{type: conv2d, filters: 10, kernel: 28}"),
        ["must end in a dense layer of 10 units", "1×1×10"],
    ),
    (
        "rho under sgd, as a grid axis",
        GOOD + "  optimizer.rho: [0.9, 0.99]\n",
        ["grid.optimizer.rho", "no effect in any cell", "only rmsprop"],
    ),
    (
        "momentum written in base for adam",
        variant("name: sgd, lr: 0.1", "name: adam, lr: 0.1, momentum: 0.5"),
        ["base.optimizer.momentum", "momentum / nesterov"],
    ),
    (
        "init_std without gauss",
        variant("initializer: he}", "initializer: he, init_std: 0.1}"),
        ["base.model.init_std", "gauss"],
    ),
    (
        "bn settings without batch norm",
        variant("initializer: he}", "initializer: he, bn_momentum: 0.5}"),
        ["base.model.bn_momentum", "batch_norm is off"],
    ),
    (
        "hidden beside an architecture",
        variant("model: {arch: small}", "model: {arch: small, hidden: [5]}", other("{type: dense, units: 10}")),
        ["base.model.hidden", "only a `hidden` net"],
    ),
    (
        "a bundle entry whose own setting is inert",
        variant(
            "  model.activation: [sigmoid, relu]",
            "  opt: [{label: a, optimizer.name: adam}, {label: b, optimizer.name: sgd, optimizer.beta_1: 0.5}]",
        ),
        ["grid.opt[1].optimizer.beta_1", "in the cells of this grid value", "adam"],
    ),
    (
        "cells that differ only in an inert setting",
        GOOD + "  optimizer.name: [sgd, adam]\n  optimizer.beta_1: [0.8, 0.9]\n",
        [
            "cells 'sigmoid · sgd · beta_1=0.8 · seed 0' and 'sigmoid · sgd · beta_1=0.9 · seed 0'",
            "only in optimizer.beta_1",
            "exclude",
        ],
    ),
    (
        "a grid value excluded everywhere",
        GOOD + "  model.initializer: [he, xavier]\nexclude: [{model.initializer: xavier}]\n",
        ["grid.model.initializer", "'xavier' is in no cell"],
    ),
]


@pytest.mark.parametrize("text, parts", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_a_study_that_cannot_work_is_refused_before_it_runs(write_study, mnist_dir, text, parts):
    path = write_study(text)
    with pytest.raises(ConfigError) as exc:
        study = load_study(path)
        if study.spec.search is not None:  # a search checks the corners of its space, as its run does
            from study.plan.space import probe_cells, search_space

            preflight(study, probe_cells(study, search_space(study)))
        else:
            preflight(study, expand(study))
    message = str(exc.value)
    assert "\n" not in message and str(path) in message, message
    for part in parts:
        assert part in message, f"{part!r} missing from: {message}"


def test_settings_inert_in_only_some_cells_are_fine(write_study, mnist_dir):
    text = GOOD + "  optimizer.name: [sgd, rmsprop]\n"
    study = load_study(write_study(variant("lr: 0.1}", "lr: 0.1, rho: 0.9}", text)))
    checked = preflight(study, expand(study))
    assert checked.structures == 1 and not checked.keras_built


def test_a_bundle_sweep_with_an_exclude_for_the_duplicates_is_fine(write_study, mnist_dir):
    text = (
        GOOD
        + "  optimizer.name: [sgd, adam]\n  optimizer.beta_1: [0.8, 0.9]\nexclude: [{optimizer.name: sgd, optimizer.beta_1: 0.8}]\n"
    )
    study = load_study(write_study(text))
    assert len(expand(study)) == 6
    preflight(study, expand(study))


def test_the_runner_refuses_before_the_store_exists(write_study, tmp_cwd, mnist_dir, capsys):
    path = write_study(GOOD + "  optimizer.rho: [0.9, 0.99]\n")
    assert cli.main(["run", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "grid.optimizer.rho" in err
    assert not (tmp_cwd / "mlruns").exists() and not list(tmp_cwd.glob("*.db"))


def test_set_that_cannot_take_effect_is_refused_in_the_dry_run(write_study, mnist_dir, capsys):
    path = write_study(GOOD)
    assert cli.main(["run", str(path), "--dry-run", "--set", "optimizer.beta_2=0.9"]) == 2
    assert "base.optimizer.beta_2" in capsys.readouterr().err
    assert cli.main(["run", str(path), "--dry-run", "--set", "data.train_size=60001"]) == 2
    assert "only 60000 train samples" in capsys.readouterr().err
