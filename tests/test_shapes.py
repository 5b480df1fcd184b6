"""Pure-Python layer shapes (study/check/shapes.py): the course's formulas, and a property test that they equal
what Keras builds (study/engine/model.build_model) on generated course stacks, failures included."""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from study.check.shapes import ShapeError, course_stack, output_shapes
from study.spec.model import ModelConfig


def model(*layers: dict) -> ModelConfig:
    return ModelConfig.model_validate({"layers": list(layers)})


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


# --- the property: pure-Python shapes are Keras's ----------------------------------------------

conv = st.builds(
    lambda f, k, s, p: {"type": "conv2d", "filters": f, "kernel": k, "stride": s, "padding": p},
    st.integers(1, 3),
    st.integers(1, 7),
    st.integers(1, 3),
    st.integers(0, 3),
)
pool = st.builds(
    lambda t, w, s: {"type": t, "pool": w, "stride": s},
    st.sampled_from(["max_pool", "avg_pool"]),
    st.integers(1, 4),
    st.none() | st.integers(1, 3),
)
plain = st.sampled_from(
    [{"type": "flatten"}, {"type": "dropout", "rate": 0.1}, {"type": "batch_norm"}, {"type": "activation"}]
)
dense = st.builds(lambda u: {"type": "dense", "units": u}, st.integers(1, 12))
ending = st.sampled_from(
    [[{"type": "dense", "units": 10}], [{"type": "dense", "units": 10}, {"type": "dropout", "rate": 0.5}], []]
)
stacks = st.tuples(st.lists(st.one_of(conv, pool, plain, dense), min_size=0, max_size=6), ending).map(
    lambda parts: parts[0] + parts[1]
)
sides = st.sampled_from([4, 7, 12, 28])


def keras_shapes(cfg: ModelConfig, side: int) -> list[tuple[int, ...]] | None:
    """The output shapes of the conv, pool and dense layers Keras builds, or None when it cannot build
    the stack (or builds a layer with an empty output)."""
    from study.engine.build import build_model

    try:
        net = build_model(cfg, (side * side,), 10)
    except (ValueError, TypeError):
        return None
    shapes = [tuple(layer.output.shape[1:]) for layer in net.layers if layer.name.startswith(("conv", "pool", "dense"))]
    return None if any(0 in s for s in shapes) else shapes


@given(stack=stacks, side=sides)
def test_pure_python_shapes_equal_keras_on_course_stacks(stack, side):
    cfg = model(*stack)
    try:
        ours = output_shapes(cfg, (side * side,), 10)
    except ShapeError:
        ours = None
    theirs = keras_shapes(cfg, side)
    event("both refuse" if ours is None and theirs is None else "both build" if ours and theirs else "disagree")
    if ours is None or theirs is None:
        assert ours is None and theirs is None, (stack, side, ours, theirs)
        return
    layer_types = [layer["type"] for layer in stack]
    mine = [s for (_, s), t in zip(ours, layer_types) if t in ("conv2d", "max_pool", "avg_pool", "dense")]
    assert mine == theirs
