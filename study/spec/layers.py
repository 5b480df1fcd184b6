"""The layers of `model.layers` and of named architectures: the course's own types and any Keras layer."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import ConfigDict, Discriminator, Field, Tag, model_serializer, model_validator

from study.spec.layer_table import check_layer
from study.spec.strict import Fraction, PositiveInt, Strict

Activation = Literal["sigmoid", "relu", "tanh", "leaky_relu", "elu", "selu", "gelu", "swish", "softplus", "linear"]

ACTIVATIONS: tuple[str, ...] = get_args(Activation)


class DenseLayer(Strict):
    type: Literal["dense"]
    """A fully connected layer."""
    units: PositiveInt
    """Number of output units."""
    activation: Activation | None = None
    """Activation applied inside the layer; unset: linear (add an `activation` layer after)."""


class Conv2DLayer(Strict):
    type: Literal["conv2d"]
    """A 2-D convolution."""
    filters: PositiveInt
    """Number of filters (output channels)."""
    kernel: PositiveInt
    """Side of the square kernel, in pixels."""
    stride: PositiveInt = 1
    """Step between kernel positions, in pixels."""
    padding: Annotated[int, Field(ge=0)] = 0
    """Explicit zero padding on each side, in pixels, as the course does (not 'same')."""


class PoolLayer(Strict):
    type: Literal["max_pool", "avg_pool"]
    """Max or average pooling."""
    pool: PositiveInt = 2
    """Side of the square pooling window, in pixels."""
    stride: PositiveInt | None = None
    """Step between windows; unset: equal to `pool`."""


class FlattenLayer(Strict):
    type: Literal["flatten"]
    """Flattens the feature maps into one vector."""


class DropoutLayer(Strict):
    type: Literal["dropout"]
    """Drops units at random while training."""
    rate: Fraction
    """Fraction of units dropped."""


class BatchNormLayer(Strict):
    type: Literal["batch_norm"]
    """Batch normalisation, with the study's `model.bn_*` settings."""


class ActivationLayer(Strict):
    type: Literal["activation"]
    """An activation function as its own layer."""
    name: Activation | None = None
    """The activation; unset: the study's `model.activation`."""


# The study's settings own these arguments of a Keras layer: the engine draws every kernel from
# `model.initializer` at the cell's seed and penalises it by `model.l1` / `model.l2`.
STUDY_OWNED_ARGS = {
    "kernel_initializer": "the study's model.initializer",
    "kernel_regularizer": "the study's model.l1 / model.l2",
    "name": "the engine (stable per-kind names: conv_1, dense_2, …)",
}


class KerasLayer(Strict):
    """Any `keras.layers` layer by its class name, e.g. `{type: Conv2D, filters: 32, kernel_size: 3,
    padding: same}`: every other key is a constructor argument, checked against the layer's real
    signature (study/spec/layer_table.py) without importing Keras."""

    model_config = ConfigDict(json_schema_extra=lambda schema: keras_layer_schema(schema))

    type: str
    """The Keras class name (capitalised: the course's own types are lower-case)."""
    args: dict[str, Any] = {}
    """The layer's constructor arguments (written beside `type`, or under `args`)."""

    @model_validator(mode="before")
    @classmethod
    def _gather_args(cls, data: Any) -> Any:
        if isinstance(data, dict) and not (set(data) <= {"type", "args"} and isinstance(data.get("args"), dict)):
            data = {"type": data.get("type"), "args": {k: v for k, v in data.items() if k != "type"}}
        return data

    @model_validator(mode="after")
    def _known(self) -> KerasLayer:
        if not self.type[:1].isupper():
            raise ValueError(
                f"unknown layer type {self.type!r} (course types: {', '.join(LAYER_TYPES)}; "
                "or a keras.layers class by name, e.g. Conv2D, GlobalAveragePooling2D)"
            )
        check_layer(self.type, self.args, STUDY_OWNED_ARGS)
        return self

    @model_serializer
    def _flat(self) -> dict[str, Any]:
        """Written back as it is read: `{type: Conv2D, filters: 32, …}`."""
        return {"type": self.type, **self.args}


def keras_layer_schema(schema: dict[str, Any]) -> None:
    """The JSON Schema of a Keras layer as written: a capitalised `type` beside its arguments."""
    schema["properties"]["type"]["pattern"] = "^[A-Z]"
    schema["additionalProperties"] = True


def layer_kind(data: Any) -> str | None:
    """The union member of a layer entry: a course type by its lower-case name, else a Keras class
    (None when it has no `type`: the error says a layer needs one)."""
    kind = data.get("type") if isinstance(data, dict) else getattr(data, "type", None)
    if not isinstance(kind, str):
        return None
    return kind if kind in LAYER_TYPES else "keras"


Layer = Annotated[
    Annotated[DenseLayer, Tag("dense")]
    | Annotated[Conv2DLayer, Tag("conv2d")]
    | Annotated[PoolLayer, Tag("max_pool")]
    | Annotated[PoolLayer, Tag("avg_pool")]
    | Annotated[FlattenLayer, Tag("flatten")]
    | Annotated[DropoutLayer, Tag("dropout")]
    | Annotated[BatchNormLayer, Tag("batch_norm")]
    | Annotated[ActivationLayer, Tag("activation")]
    | Annotated[KerasLayer, Tag("keras")],
    Discriminator(layer_kind),
]
# The course's own layer types (lower-case); a capitalised `type` names a Keras layer class.
LAYER_TYPES = ("dense", "conv2d", "max_pool", "avg_pool", "flatten", "dropout", "batch_norm", "activation")
