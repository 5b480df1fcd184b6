"""Which settings take effect (study/spec/relevance.py): the rules. The engine's own proof that an inert
setting changes neither the built network nor the optimizer is in tests/integration/spec/test_relevance.py."""

from __future__ import annotations

from typing import Any

import pytest

from study.spec.relevance import effective_settings, inert_settings
from study.spec.settings import Settings
from tests.support.studies import CONV_STACK


def settings(**sections: dict[str, Any]) -> Settings:
    return Settings.model_validate(sections)


@pytest.mark.parametrize(
    "optimizer, inert, used",
    [
        ("sgd", {"momentum", "rho", "beta_1", "beta_2", "epsilon", "initial_accumulator"}, set()),
        ("momentum", {"rho", "beta_1", "beta_2", "epsilon", "initial_accumulator"}, {"momentum"}),
        ("nesterov", {"rho", "beta_1", "beta_2", "epsilon", "initial_accumulator"}, {"momentum"}),
        ("adagrad", {"momentum", "rho", "beta_1", "beta_2"}, {"epsilon", "initial_accumulator"}),
        ("rmsprop", {"momentum", "beta_1", "beta_2", "initial_accumulator"}, {"rho", "epsilon"}),
        ("adam", {"momentum", "rho", "initial_accumulator"}, {"beta_1", "beta_2", "epsilon"}),
    ],
)
def test_each_optimizer_reads_only_its_own_hyperparameters(optimizer, inert, used):
    found = {k.split(".")[1] for k in inert_settings(settings(optimizer={"name": optimizer})) if k.startswith("opt")}
    assert found == inert
    assert not found & used
    assert "optimizer.lr" not in inert_settings(settings(optimizer={"name": optimizer}))


@pytest.mark.parametrize(
    "optimizer, used",
    [
        ("adadelta", {"rho", "epsilon"}),
        ("adamax", {"beta_1", "beta_2", "epsilon"}),
        ("nadam", {"beta_1", "beta_2", "epsilon"}),
        ("adamw", {"beta_1", "beta_2", "epsilon"}),
    ],
)
def test_the_other_keras_optimizers_read_their_own(optimizer, used):
    inert = {k.split(".")[1] for k in inert_settings(settings(optimizer={"name": optimizer})) if k.startswith("opt")}
    assert inert == {"momentum", "rho", "beta_1", "beta_2", "epsilon", "initial_accumulator"} - used


@pytest.mark.parametrize(
    "optimizer, used",
    [("adagrad", set()), ("rmsprop", {"rho", "epsilon"}), ("adam", {"beta_1", "beta_2", "epsilon"})],
)
def test_the_course_rules_read_only_what_the_notebook_reads(optimizer, used):
    found = inert_settings(settings(optimizer={"name": optimizer, "rule": "course"}))
    inert = {k.split(".")[1] for k in found if k.startswith("opt")}
    assert inert == {"momentum", "rho", "beta_1", "beta_2", "epsilon", "initial_accumulator"} - used
    assert "under optimizer.rule course" in found["optimizer.initial_accumulator"]


def test_init_std_only_under_gauss():
    assert "model.init_std" in inert_settings(settings(model={"initializer": "he"}))
    assert "gauss" in inert_settings(settings(model={"initializer": "he"}))["model.init_std"]
    assert "model.init_std" not in inert_settings(settings(model={"initializer": "gauss"}))


def test_batch_norm_settings_only_with_a_batch_norm_layer():
    off = inert_settings(settings(model={"batch_norm": "off"}))
    assert {"model.bn_momentum", "model.bn_epsilon", "model.bn_train_affine"} <= off.keys()
    assert "model.batch_norm" not in off  # choosing `off` is itself a choice that takes effect
    before = inert_settings(settings(model={"batch_norm": "before"}))
    assert not {"model.bn_momentum", "model.bn_epsilon", "model.bn_train_affine"} & before.keys()
    stack = inert_settings(settings(model={"layers": [*CONV_STACK[:1], {"type": "batch_norm"}, *CONV_STACK[1:]]}))
    assert "model.bn_momentum" not in stack and "model.batch_norm" in stack


def test_an_explicit_stack_replaces_the_hidden_net_settings():
    inert = inert_settings(settings(model={"layers": CONV_STACK, "dropout": 0.5}))
    assert {"model.hidden", "model.dropout", "model.batch_norm", "model.activation"} <= inert.keys()
    assert "model.layers" in inert["model.hidden"]
    assert "model.initializer" not in inert and "model.l2" not in inert  # every kernel still uses them
    unnamed = [*CONV_STACK[:1], {"type": "activation"}, *CONV_STACK[2:]]
    assert "model.activation" not in inert_settings(settings(model={"layers": unnamed}))


def test_a_net_without_hidden_layers_has_no_activation_dropout_or_batch_norm():
    inert = inert_settings(settings(model={"hidden": [], "batch_norm": "before", "dropout": 0.2}))
    assert {"model.activation", "model.dropout", "model.batch_norm", "model.bn_epsilon"} <= inert.keys()
    assert "model.hidden" not in inert


def test_train_settings_always_take_effect():
    inert = inert_settings(settings(model={"layers": CONV_STACK}, optimizer={"name": "sgd"}))
    assert not [k for k in inert if k.startswith("train.")]


@pytest.mark.parametrize(
    ("data", "inert"),
    [
        ({"name": "mnist"}, "arrays label_column image_size color_mode standardize targets"),
        ({"format": "npz", "path": "a.npz"}, "label_column image_size color_mode"),
        ({"format": "csv", "path": "a.csv", "test_split": {"size": 1}}, "arrays image_size color_mode"),
        ({"format": "images", "path": "d", "test_split": {"size": 1}}, "arrays label_column standardize targets"),
    ],
)
def test_data_settings_of_other_formats_take_no_effect(data, inert):
    """The report's fixed settings and the dry run then leave out what this data never reads."""
    found = {k for k in inert_settings(settings(data=data)) if k.startswith("data.")}
    assert found == {f"data.{key}" for key in inert.split()}


def test_effective_settings_drop_exactly_the_inert_keys():
    s = settings(optimizer={"name": "adam"}, model={"initializer": "gauss"})
    effective = effective_settings(s)
    assert "optimizer.rho" not in effective and "optimizer.beta_1" in effective
    assert "model.init_std" in effective
    assert settings(optimizer={"name": "sgd", "rho": 0.5}) != settings(optimizer={"name": "sgd"})
    assert effective_settings(settings(optimizer={"name": "sgd", "rho": 0.5})) == effective_settings(
        settings(optimizer={"name": "sgd"})
    )
