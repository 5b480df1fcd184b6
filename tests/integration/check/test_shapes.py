"""A property test that the pure-Python layer shapes (study/check/shapes.py) equal what Keras builds
(study/engine/model.build_model) on generated course stacks, failures included."""

from __future__ import annotations

from hypothesis import event, given
from hypothesis import strategies as st

from study.check.shapes import ShapeError, output_shapes
from study.spec.model import ModelConfig
from tests.support.studies import model

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
