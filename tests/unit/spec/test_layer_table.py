"""Keras layer entries are checked against the committed layer table (study/spec/keras_layers.json)
with one-line errors, without importing TensorFlow. That the table is the installed Keras's is in
tests/integration/spec/test_layer_table.py."""

from __future__ import annotations

import pytest

from study.check.validated_study import study_from_dict
from study.errors import ConfigError
from study.spec.layer_table import keras_layers


def study(layer: dict) -> dict:
    return {
        "study": "s",
        "base": {"model": {"layers": [layer, {"type": "dense", "units": 10}]}},
        "grid": {"model.activation": ["relu"]},
    }


@pytest.mark.parametrize(
    "layer, expected",
    [
        (
            {"type": "Conv2d", "filters": 3},
            "s.yaml: base.model.layers.0: unknown Keras layer 'Conv2d' (valid: Activation,",
        ),
        (
            {"type": "Conv2D", "filters": 3},
            "s.yaml: base.model.layers.0: Conv2D needs kernel_size (arguments: filters,",
        ),
        (
            {"type": "Conv2D", "filters": 3, "kernel_size": 3, "paddin": "same"},
            "s.yaml: base.model.layers.0: Conv2D has no argument 'paddin' (valid: filters, kernel_size, strides, padding,",
        ),
        (
            {"type": "Dense", "units": 3, "kernel_initializer": "ones"},
            "Dense: kernel_initializer is set by the study's model.initializer, not per layer",
        ),
        ({"type": "Dense", "units": 3, "name": "x"}, "Dense: name is set by the engine"),
        ({"type": "denso", "units": 3}, "unknown layer type 'denso' (course types: dense, conv2d,"),
    ],
)
def test_a_bad_keras_layer_is_one_line_naming_the_key_and_the_choices(layer, expected):
    with pytest.raises(ConfigError) as err:
        study_from_dict(study(layer), "s.yaml")
    message = str(err.value)
    assert expected in message and "\n" not in message


def test_refused_arguments_are_not_listed_as_valid():
    with pytest.raises(ConfigError) as err:
        study_from_dict(study({"type": "Dense", "units": 3, "unit": 1}), "s")
    valid = str(err.value).split("(valid: ", 1)[1]
    assert "units" in valid and "kernel_initializer" not in valid and "name" not in valid.split(", ")


def test_the_table_holds_the_layers_a_sequential_stack_uses_and_leaves_out_multi_input_ones():
    table = keras_layers()
    for name in ("Conv2D", "GlobalAveragePooling2D", "LayerNormalization", "SeparableConv2D", "Dense", "Dropout"):
        assert name in table
    for name in ("Add", "Concatenate", "Lambda", "Bidirectional", "InputLayer"):
        assert name not in table
    assert table["Conv2D"]["required"] == ["filters", "kernel_size"]
