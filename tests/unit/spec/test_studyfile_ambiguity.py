"""YAML the parser accepts but that is ambiguous, and grids whose meaning depends on order or repeats
itself: each refused in one line naming the file and the place (study/spec/studyfile.py, study/plan/grid.py)."""

from __future__ import annotations

import pytest

from study.check.validated_study import load_study
from study.errors import ConfigError
from study.plan.grid import expand

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


def variant(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, old
    return GOOD.replace(old, new)


BAD = [
    ("duplicate key", GOOD.replace("  optimizer:", "  model: {hidden: [10]}\n  optimizer:"), ["duplicate key 'model'"]),
    ("duplicate key in a flow mapping", variant("lr: 0.1}", "lr: 0.1, lr: 0.2}"), ["duplicate key 'lr'", "line 5"]),
    ("duplicate top-level key", GOOD + "grid:\n  model.initializer: [he]\n", ["duplicate key 'grid'", "line 9"]),
    ("octal-looking number", variant("iterations: 60", "iterations: 060"), ["'060' is ambiguous", "octal", "line 6"]),
    ("base-60 number", variant("batch_size: 50", "batch_size: 1:30"), ["'1:30' is ambiguous", "base-60"]),
    ("infinite learning rate", variant("lr: 0.1", "lr: .inf"), ["base.optimizer.lr", "inf is not a finite number"]),
    ("nan in a grid", GOOD + "  optimizer.lr: [0.1, .nan]\n", ["grid.optimizer.lr[1]", "nan"]),
    ("a value listed twice", variant("[sigmoid, relu]", "[sigmoid, relu, sigmoid]"), ["sigmoid", "listed twice"]),
    (
        "two bundles with one label",
        variant("  model.activation: [sigmoid, relu]", "  net: [{label: a, model.l2: 0.1}, {label: a, model.l2: 0.2}]"),
        ["grid.net", "share the label 'a'"],
    ),
    (
        "two axes set one setting",
        GOOD + "  net: [{label: a, model.activation: tanh}, {label: b, model.l2: 0.1}]\n",
        ["axes 'model.activation' and 'net' both set model.activation"],
    ),
    (
        "arch and layers on two axes",
        GOOD.replace("grid:", "architectures:\n  s: [{type: dense, units: 10}]\ngrid:")
        + "  model.arch: [s]\n  model.layers: [[{type: dense, units: 10}]]\n",
        ["both set model.layers"],
    ),
    ("a seed listed twice", GOOD + "seeds: [0, 1, 0]\n", ["seeds: 0 is listed twice"]),
    (
        "an exclude entry that matches nothing",
        GOOD + "exclude: [{model.activation: Relu}]\n",
        ["exclude[0]", "matches no cell", "never 'Relu'", "sigmoid, relu"],
    ),
    (
        "an exclude entry on a base value that matches nothing",
        GOOD + "exclude: [{optimizer.lr: 0.5}]\n",
        ["exclude[0]", "matches no cell"],
    ),
    (
        "an exclude entry with a bundle label that does not exist",
        variant("  model.activation: [sigmoid, relu]", "  net: [{label: a, model.l2: 0.1}, {label: b}]")
        + "exclude: [{net: c}]\n",
        ["exclude[0]", "never 'c'", "a, b"],
    ),
]


@pytest.mark.parametrize("text, parts", [c[1:] for c in BAD], ids=[c[0] for c in BAD])
def test_ambiguous_study_file_is_one_clear_error(write_study, text, parts):
    path = write_study(text)
    with pytest.raises(ConfigError) as exc:
        expand(load_study(path))
    message = str(exc.value)
    assert "\n" not in message and str(path) in message, message
    for part in parts:
        assert part in message, f"{part!r} missing from: {message}"


def test_yaml_1_1_words_stay_the_strings_the_schema_documents(write_study):
    text = variant("activation: relu,", "activation: relu, batch_norm: off,") + "  model.batch_norm: [off, before]\n"
    cells = expand(load_study(write_study(text.replace("model.activation: [sigmoid, relu]\n", ""))))
    assert [c.settings.model.batch_norm for c in cells] == ["off", "before"]
    with pytest.raises(ConfigError, match="bn_train_affine.*'no'.*boolean"):
        load_study(write_study(variant("initializer: he}", "initializer: he, bn_train_affine: no}")))


def test_merge_keys_may_be_overridden_and_plain_numbers_stay_numbers(write_study):
    text = variant("  optimizer: {name: sgd, lr: 0.1}", "  optimizer: {<<: {name: sgd, lr: 0.5}, lr: 0.1}")
    study = load_study(
        write_study(text.replace("iterations: 60", "iterations: 1_000").replace("eval_every: 10", "eval_every: 0x10"))
    )
    assert study.base.optimizer.lr == 0.1
    assert (study.base.train.iterations, study.base.train.eval_every) == (1000, 16)


@pytest.mark.parametrize(
    "override, part",
    [
        ("base.model={hidden: [1], hidden: [2]}", "duplicate key 'hidden'"),
        ("train.iterations=010", "'010' is ambiguous"),
        ("optimizer.lr=.inf", "inf is not a finite number"),
    ],
)
def test_set_values_are_read_as_strictly_as_the_file(write_study, override, part):
    with pytest.raises(ConfigError) as exc:
        load_study(write_study(GOOD), [override])
    assert part in str(exc.value) and "\n" not in str(exc.value)
