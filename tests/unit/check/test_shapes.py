"""Pure-Python layer shapes (study/check/shapes.py): the course's formulas. The property test that
they equal what Keras builds is in tests/integration/check/test_shapes.py."""

from __future__ import annotations

import pytest

from study.check.shapes import ShapeError, course_stack, output_shapes
from study.spec.model import ModelConfig
from tests.support.studies import model


def test_the_course_convnets_shapes():
    simple = model(
        {"type": "conv2d", "filters": 30, "kernel": 5},
        {"type": "activation", "name": "relu"},
        {"type": "max_pool", "pool": 2},
        {"type": "dense", "units": 100, "activation": "relu"},
        {"type": "dense", "units": 10},
    )
    assert [s for _, s in output_shapes(simple, (784,), 10)] == [
        (24, 24, 30),
        (24, 24, 30),
        (12, 12, 30),
        (100,),
        (10,),
    ]
    padded = model(
        {"type": "conv2d", "filters": 2, "kernel": 3, "stride": 2, "padding": 2}, {"type": "dense", "units": 10}
    )
    assert output_shapes(padded, (784,), 10)[0][1] == (15, 15, 2)  # (28 + 4 - 3) // 2 + 1


def test_a_hidden_net_ends_in_its_output_layer():
    assert output_shapes(ModelConfig(hidden=[40, 20]), (784,), 10) == [
        ("model.hidden[0]", (40,)),
        ("model.hidden[1]", (20,)),
        ("output", (10,)),
    ]
    assert output_shapes(ModelConfig(hidden=[]), (784,), 3) == [("output", (3,))]


def test_a_flat_input_that_is_not_square_cannot_meet_a_convolution():
    with pytest.raises(ShapeError, match="flat input of 20 values is not a square image"):
        output_shapes(model({"type": "conv2d", "filters": 1, "kernel": 1}, {"type": "dense", "units": 10}), (20,), 10)


def test_only_course_layer_types_are_decided_here():
    assert course_stack(ModelConfig()) and course_stack(model({"type": "dense", "units": 10}))
