"""Output shapes of a cell's network, in pure Python, for the course's own layer types.

The same walk as the engine's model build, with Keras's exact `valid` formulas, so an impossible stack
is refused, naming the layer, before anything runs and without importing TensorFlow."""

from __future__ import annotations

import math
from typing import Any

from study.spec.layers import LAYER_TYPES
from study.spec.model import ModelConfig

Shape = tuple[int, ...]
IDENTITY_TYPES = ("dropout", "batch_norm", "activation")  # shape in = shape out


class ShapeError(ValueError):
    """A layer that cannot work on its input: the message names the layer and both shapes."""


def course_stack(model: ModelConfig) -> bool:
    """Whether every layer of the net is one of the course's types (so `output_shapes` can decide)."""
    return model.layers is None or all(kind(spec) in LAYER_TYPES for spec in model.layers)


def kind(spec: Any) -> str:
    """A layer spec's `type`."""
    return str(spec.get("type") if isinstance(spec, dict) else getattr(spec, "type", ""))


def text(shape: Shape) -> str:
    """A shape as `28×28×1`."""
    return "×".join(str(d) for d in shape)


def describe(spec: Any) -> str:
    """A layer as written, short: `conv2d 30 5×5 pad 0`, `max_pool 2`, `dense 100`."""
    t = kind(spec)
    if t == "conv2d":
        return f"conv2d {spec.filters} {spec.kernel}×{spec.kernel} stride {spec.stride} pad {spec.padding}"
    if t in ("max_pool", "avg_pool"):
        return f"{t} {spec.pool} stride {spec.stride or spec.pool}"
    if t == "dense":
        return f"dense {spec.units}"
    return t


def output_shapes(model: ModelConfig, input_shape: Shape, num_classes: int) -> list[tuple[str, Shape]]:
    """(layer, output shape without the batch axis) for every layer written, then the net's output;
    raises ShapeError for a layer that cannot take its input or a net that does not end in
    `num_classes` values."""
    explicit = model.layers is not None
    stack: list[tuple[str, Any]] = (
        [(f"model.layers[{i}]", spec) for i, spec in enumerate(model.layers or [])]
        if explicit
        else [(f"model.hidden[{i}]", units) for i, units in enumerate(model.hidden)]
    )
    shape = tuple(input_shape)
    if len(shape) == 1 and any(kind(spec) == "conv2d" for _, spec in stack):
        side = int(round(shape[0] ** 0.5))
        if side * side != shape[0]:
            raise ShapeError(f"a flat input of {shape[0]} values is not a square image, so conv2d cannot take it")
        shape = (side, side, 1)
    out: list[tuple[str, Shape]] = []
    for where, spec in stack:
        if not explicit:  # a hidden size: dense -> (BN) -> activation -> (BN) -> (dropout)
            shape = (spec,)
        else:
            shape = layer_output(where, spec, shape)
        out.append((where, shape))
    if not explicit:
        shape = (num_classes,)
        out.append(("output", shape))
    if shape != (num_classes,):
        last = out[-1][0] if out else "model.layers"
        raise ShapeError(
            f"the net must end in a dense layer of {num_classes} units; its output after {last} is {text(shape)}"
        )
    return out


def layer_output(where: str, spec: Any, shape: Shape) -> Shape:
    """One course layer's output shape for `shape`, or ShapeError."""
    t = kind(spec)
    if t == "dense":
        return (spec.units,)  # after a flatten the builder inserts when the input is spatial
    if t == "flatten":
        return (math.prod(shape),)
    if t in IDENTITY_TYPES:
        return shape
    if len(shape) != 3:
        raise ShapeError(
            f"{where} ({describe(spec)}) needs an image (height×width×channels); its input is {text(shape)}"
        )
    height, width, channels = shape
    if t == "conv2d":
        if min(height, width) + 2 * spec.padding < spec.kernel:
            raise ShapeError(
                f"{where} ({describe(spec)}): the {spec.kernel}×{spec.kernel} kernel is larger than its padded "
                f"input {text((height + 2 * spec.padding, width + 2 * spec.padding, channels))}"
            )
        return (
            (height + 2 * spec.padding - spec.kernel) // spec.stride + 1,
            (width + 2 * spec.padding - spec.kernel) // spec.stride + 1,
            spec.filters,
        )
    if t in ("max_pool", "avg_pool"):
        stride = spec.stride or spec.pool
        if min(height, width) < spec.pool:
            raise ShapeError(
                f"{where} ({describe(spec)}): the {spec.pool}×{spec.pool} window is larger than its input {text(shape)}"
            )
        return ((height - spec.pool) // stride + 1, (width - spec.pool) // stride + 1, channels)
    raise ShapeError(f"{where}: layer type {t!r} is not one of the course's ({', '.join(LAYER_TYPES)})")
