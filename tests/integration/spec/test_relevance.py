"""The engine's own proof that an inert setting (study/spec/relevance.py) changes neither the built
network nor the optimizer."""

from __future__ import annotations

from typing import Any

import pytest

from study.spec.relevance import inert_settings
from study.spec.settings import Settings
from tests.support.studies import CONV_STACK

# --- the engine agrees: changing an inert setting changes nothing that is built ------------

PERTURBED = {
    "optimizer.momentum": 0.5,
    "optimizer.rho": 0.5,
    "optimizer.beta_1": 0.5,
    "optimizer.beta_2": 0.5,
    "optimizer.epsilon": 0.5,
    "optimizer.initial_accumulator": 0.5,
    "model.init_std": 0.5,
    "model.bn_momentum": 0.5,
    "model.bn_epsilon": 0.5,
    "model.bn_train_affine": False,
    "model.dropout": 0.5,
    "model.batch_norm": "before",
    "model.hidden": [7],
    "model.activation": "elu",
}

CASES = [
    {"optimizer": {"name": name}, "model": {"initializer": init, "batch_norm": bn, "hidden": hidden}}
    for name, init, bn, hidden in [
        ("sgd", "he", "off", [5]),
        ("momentum", "gauss", "before", [5, 3]),
        ("adagrad", "xavier", "off", []),
        ("rmsprop", "glorot_uniform", "after", [4]),
        ("adam", "gauss", "off", [4]),
        ("adadelta", "he", "off", [4]),
        ("nadam", "he", "off", [4]),
        ("adamw", "he", "off", [4]),
    ]
] + [{"optimizer": {"name": "nesterov"}, "model": {"layers": CONV_STACK}}]


def built(doc: dict[str, Any]) -> tuple[Any, Any, list]:
    """What the engine builds from a settings document: the net's and the optimizer's full configs."""
    from study.engine.build import build_model
    from study.engine.optimizers import build_optimizer

    s = Settings.model_validate(doc)
    shape = (28, 28, 1) if s.model.layers is not None else (16,)
    model = build_model(s.model, shape, 10)
    trainable = [v.trainable for v in model.weights]
    config = model.get_config()
    config["layers"][0]["config"].pop("name")  # Keras numbers its Input layers per process
    optimizer = build_optimizer(s.optimizer).get_config()
    optimizer.pop("name")  # numbered per process too
    return config, optimizer, trainable


def with_value(doc: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """`doc` with `key` set to `value`, or to another value when it already is `value`."""
    section, field = key.split(".")
    if doc.get(section, {}).get(field) == value:
        value = "after" if key == "model.batch_norm" else [3, 3] if key == "model.hidden" else value
    return {**doc, section: {**doc.get(section, {}), field: value}}


@pytest.mark.parametrize("doc", CASES, ids=lambda d: f"{d['optimizer']['name']}")
def test_the_engine_builds_the_same_thing_when_an_inert_setting_changes(doc):
    inert = inert_settings(Settings.model_validate(doc))
    # the data settings of other formats than the cell's are inert too; changing one is refused outright
    # (DataConfig: "read only with data.format …", tests/unit/data/test_config.py), so the build never sees it;
    # so is model.args without a model.builder (tests/unit/spec/test_builder.py), and a model.task other than
    # the one the study's own loss decides
    inert = {k: why for k, why in inert.items() if not k.startswith("data.") and k not in ("model.args", "model.task")}
    assert inert
    reference = built(doc)
    for key in inert:
        assert built(with_value(doc, key, PERTURBED[key])) == reference, key
    for key in PERTURBED.keys() - inert.keys():  # and every setting said to take effect does change it
        assert built(with_value(doc, key, PERTURBED[key])) != reference, key
