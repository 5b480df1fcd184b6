"""Errors that teach: the common shape mistakes of a study file give one line naming only the wrong key
and how to write it (study/spec/hints.py, studyfile.cell_error), exit 2, nothing written."""

from __future__ import annotations

import pytest

from study import cli

BASE = "study: t\nbase: {data: {train_size: 300, test_size: 100}, train: {iterations: 20, eval_every: 10}}\n"

CASES = [
    (
        "flat list for a list-valued axis",
        "grid: {model.hidden: [100, 50]}\n",
        "grid.model.hidden: each level of this axis is a whole model.hidden (itself a list), so the axis is a "
        "list of lists: write `model.hidden: [[100, 50]]` for one level",
    ),
    (
        "nested grid",
        "grid: {model: {activation: [relu, tanh]}}\n",
        "grid.model: grid keys are dotted, not nested: write `model.activation: [relu, tanh]` under grid",
    ),
    (
        "a scalar where a list of values is needed",
        "grid: {model.activation: relu}\n",
        "grid.model.activation: an axis takes a list of values, one per level: write `model.activation: [relu]` "
        "(got 'relu')",
    ),
    (
        "an axis at the top level",
        "model.activation: [relu]\n",
        "model.activation: not a top-level key; an axis goes under `grid:`",
    ),
    (
        "exclude as one mapping",
        "grid: {model.activation: [relu, tanh]}\nexclude: {model.activation: relu}\n",
        "exclude: a list of combinations, each a mapping: write `exclude: [{model.activation: relu}]`",
    ),
]


@pytest.mark.parametrize("name, grid, message", CASES, ids=[c[0] for c in CASES])
def test_shape_mistakes_get_a_hint(name, grid, message, write_study, tmp_cwd, capsys):
    path = write_study(BASE + grid)
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {path}: {message}" + err.split(message, 1)[1] and err.count("\n") == 1
    assert not (tmp_cwd / "mlruns").exists()


def test_dotted_keys_under_base(write_study, tmp_cwd, capsys):
    path = write_study("study: t\nbase: {model.activation: tanh}\ngrid: {model.hidden: [[4]]}\n")
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        f"error: {path}: base.model.activation: base is nested by section, not dotted: write "
        "`model: {activation: tanh}` under base"
    )


def test_a_bad_value_names_only_its_axis(write_study, tmp_cwd, capsys):
    path = write_study(BASE + "grid: {model.activation: [relu, sigmod], model.hidden: [[40, 20], [10]]}\n")
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: grid.model.activation: 'sigmod' is not valid (valid: sigmoid, relu,")
    assert "hidden" not in err


def test_a_bad_item_inside_a_list_level(write_study, tmp_cwd, capsys):
    path = write_study(BASE + "grid: {model.hidden: [[100, 50], [40, -1]], model.activation: [relu, tanh]}\n")
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert (
        err
        == f"error: {path}: grid.model.hidden: in the level [40, -1]: model.hidden.1: -1: Input should be greater than 0"
    )


def test_a_bundle_axis_names_the_bundle(write_study, tmp_cwd, capsys):
    path = write_study(BASE + "grid: {net: [{label: a, model.activation: sigmod}], model.hidden: [[4]]}\n")
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"error: {path}: grid.net: model.activation: 'sigmod' is not valid") and "hidden" not in err


def test_settings_wrong_only_together_name_the_cell(write_study, tmp_cwd, capsys):
    path = write_study(BASE + "grid: {train.eval_every: [50], model.activation: [relu]}\n")
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert "train.eval_every (50) is larger than train.iterations (20)" in err
    assert "(in the grid cell train.eval_every=50, model.activation='relu'" in err
