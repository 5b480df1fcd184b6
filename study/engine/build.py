"""A cell's settings become a `keras.Sequential`: layers, exact initialisers, BatchNormalization, penalties.

Initialisers (bias always starts at zero, as in the course):
- `gauss`:  N(0, init_std²), not truncated (the course's `weight_init_std * randn`).
- `xavier`: N(0, 1/fan_in), not truncated — the course's definition. This is *not* Keras's
  `glorot_normal`, which draws from a normal truncated at 2σ with variance 2/(fan_in + fan_out).
- `he`:     N(0, 2/fan_in), not truncated. (Keras's `he_normal` truncates at 2σ.)
- any Keras initializer by its Keras name (`glorot_uniform`, `he_normal`, …).
fan_in is the number of inputs of a unit: the input width of a dense layer, kernel² × input
channels of a convolution.

Penalties on every kernel, the output layer's included: L1 adds `l1·Σ|W|`; L2 adds the course's
`0.5·l2·ΣW²`, i.e. Keras `L2(l2 / 2)`.

Any other `keras.layers` layer (`{type: Conv2D, padding: same, …}`) is built
with its arguments as written; a layer with a kernel gets the study's initializer (re-drawn at
each cell's seed by the engine) and penalty. Its other random initial weights, if any (e.g.
SeparableConv2D's depthwise kernel), are drawn when the engine builds the model, from Keras's
seeded global generator: the same for every seed of a structure.

The output follows the task: a softmax over the classes for classification,
linear for regression.

Layer names are stable (`dense_1`, `act_1`, `bn_1`, `conv_1`, …; a Keras layer: its class name in
snake case, `global_average_pooling2d_1`) so per-layer metrics line up across cells.
"""

from __future__ import annotations

import os
import re
import tempfile

import numpy as np

from study.engine.backend import keras
from study.engine.records import KERAS_TEMP_PREFIX, SavedKeras
from study.spec.layers import (
    ActivationLayer,
    BatchNormLayer,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    FlattenLayer,
    KerasLayer,
    PoolLayer,
)
from study.spec.model import ModelConfig
from study.spec.task import task_of

EXAMPLE_ROWS = 2  # test rows stored as a saved model's input example
KERAS_FILE = "model.keras"  # the name MLflow's Keras flavour gives the file

# The course's own initialisers as Keras VarianceScaling (which draws N(0, scale / fan_in) when
# `distribution="untruncated_normal"`); `gauss` has a fixed sigma instead.
COURSE_SCALE = {"xavier": 1.0, "he": 2.0}


def kernel_initializer(cfg: ModelConfig, seed: int | None = None) -> keras.initializers.Initializer:
    """The initializer named by `model.initializer` (see the module docstring for the exact laws).

    With an integer `seed` it draws the same values on every call (the engine seeds each layer).
    """
    if cfg.initializer == "gauss":
        return keras.initializers.RandomNormal(mean=0.0, stddev=cfg.init_std, seed=seed)
    if cfg.initializer in COURSE_SCALE:
        return keras.initializers.VarianceScaling(
            scale=COURSE_SCALE[cfg.initializer], mode="fan_in", distribution="untruncated_normal", seed=seed
        )
    init = keras.initializers.get(cfg.initializer)
    if seed is not None and "seed" in init.get_config():
        init = init.__class__.from_config({**init.get_config(), "seed": seed})
    return init


def kernel_regularizer(cfg: ModelConfig) -> keras.regularizers.Regularizer | None:
    """L1/L2 penalty with the course's scale (L2 term 0.5·λ·ΣW² = Keras `l2=λ/2`)."""
    if cfg.l1 == 0 and cfg.l2 == 0:
        return None
    return keras.regularizers.L1L2(l1=cfg.l1, l2=cfg.l2 / 2)


class Namer:
    """Hands out stable per-kind layer names: dense_1, dense_2, act_1, …"""

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def __call__(self, kind: str) -> str:
        self.counts[kind] = self.counts.get(kind, 0) + 1
        return f"{kind}_{self.counts[kind]}"


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int, seed: int = 0) -> keras.Model:
    """The cell's network, built, not compiled: a softmax over `outputs` classes, or `outputs` linear
    regression targets (by the task of `model.loss`); a `model.builder`'s own model, drawn at `seed`
    (study/engine/own_model.py), or else a Sequential of the study's layer settings (whose kernels the
    engine draws at each cell's seed).

    With `model.hidden` the output layer `dense(outputs)` is added; an explicit `model.layers`
    stack is taken as written up to the logits (it ends in its own `dense` of `outputs` units).
    A flat input meets a convolution (a course `conv2d` or a Keras `…2D` layer) as a square
    one-channel image; a flatten is inserted before a course `dense` layer whose input is not flat.
    """
    if cfg.builder is not None:
        from study.engine.own_model import build_own

        return build_own(cfg, input_shape, outputs, seed)
    name = Namer()
    explicit = cfg.layers is not None
    stack = list(cfg.layers) if cfg.layers is not None else dense_stack(cfg)
    layers: list[keras.layers.Layer] = []
    x = keras.Input(shape=input_shape)
    if len(input_shape) == 1 and any(needs_image(s) for s in stack):
        side = int(round(input_shape[0] ** 0.5))
        layers.append(keras.layers.Reshape((side, side, 1), name="to_image"))
        x = layers[-1](x)
    for spec in stack:
        new = [keras.layers.Flatten(name=name("flatten"))] if isinstance(spec, DenseLayer) and len(x.shape) > 2 else []
        new += keras_layers(spec, cfg, name)
        for layer in new:
            x = layer(x)
        layers += new
    if not explicit:
        layers.append(dense(outputs, cfg, name))
    if task_of(cfg).kind == "classification":
        layers.append(keras.layers.Activation("softmax", name="softmax"))
    model = keras.Sequential([keras.Input(shape=input_shape), *layers], name="net")
    if model.output_shape[-1] != outputs or len(model.output_shape) != 2:
        raise ValueError(f"model.layers must end in a dense layer of {outputs} units; output is {model.output_shape}")
    if not cfg.bn_train_affine:
        freeze_affine(model)
    return model


def needs_image(spec) -> bool:
    """Whether a layer spec expects an image (H, W, C): a course conv or a Keras 2-D layer."""
    return isinstance(spec, Conv2DLayer) or (isinstance(spec, KerasLayer) and spec.type.endswith("2D"))


def dense_stack(cfg: ModelConfig) -> list:
    """`model.hidden` as layer specs: [dense → (BN) → activation → (BN) → (dropout)] per hidden size."""
    stack: list = []
    for units in cfg.hidden:
        stack.append(DenseLayer(type="dense", units=units))
        if cfg.batch_norm == "before":
            stack.append(BatchNormLayer(type="batch_norm"))
        stack.append(ActivationLayer(type="activation"))
        if cfg.batch_norm == "after":
            stack.append(BatchNormLayer(type="batch_norm"))
        if cfg.dropout > 0:
            stack.append(DropoutLayer(type="dropout", rate=cfg.dropout))
    return stack


def dense(units: int, cfg: ModelConfig, name: Namer) -> keras.layers.Dense:
    """A dense layer with the study's initializer, zero bias and penalty."""
    return keras.layers.Dense(
        units,
        kernel_initializer=kernel_initializer(cfg),
        bias_initializer="zeros",
        kernel_regularizer=kernel_regularizer(cfg),
        name=name("dense"),
    )


def keras_layers(spec, cfg: ModelConfig, name: Namer) -> list[keras.layers.Layer]:
    """The Keras layer(s) for one layer spec."""
    if isinstance(spec, DenseLayer):
        out: list[keras.layers.Layer] = [dense(spec.units, cfg, name)]
        if spec.activation is not None:
            out.append(keras.layers.Activation(activation_fn(spec.activation), name=name("act")))
        return out
    if isinstance(spec, Conv2DLayer):
        out = [keras.layers.ZeroPadding2D(spec.padding, name=name("pad"))] if spec.padding else []
        out.append(
            keras.layers.Conv2D(
                spec.filters,
                spec.kernel,
                strides=spec.stride,
                padding="valid",
                kernel_initializer=kernel_initializer(cfg),
                bias_initializer="zeros",
                kernel_regularizer=kernel_regularizer(cfg),
                name=name("conv"),
            )
        )
        return out
    if isinstance(spec, PoolLayer):
        cls = keras.layers.MaxPooling2D if spec.type == "max_pool" else keras.layers.AveragePooling2D
        return [cls(spec.pool, strides=spec.stride or spec.pool, name=name("pool"))]
    if isinstance(spec, FlattenLayer):
        return [keras.layers.Flatten(name=name("flatten"))]
    if isinstance(spec, DropoutLayer):
        return [keras.layers.Dropout(spec.rate, name=name("dropout"))]
    if isinstance(spec, BatchNormLayer):
        return [batch_norm(cfg, name("bn"))]
    if isinstance(spec, ActivationLayer):
        return [keras.layers.Activation(activation_fn(spec.name or cfg.activation), name=name("act"))]
    if isinstance(spec, KerasLayer):
        return [keras_layer(spec, cfg, name)]
    raise TypeError(f"unknown layer spec {spec!r}")


KERAS_KINDS = {
    "Dense": "dense",
    "Conv2D": "conv",
    "Activation": "act",
    "BatchNormalization": "bn",
    "Dropout": "dropout",
}


def keras_layer(spec: KerasLayer, cfg: ModelConfig, name: Namer) -> keras.layers.Layer:
    """A `keras.layers` layer by class name; a layer with a kernel takes the study's initializer and
    penalty (the engine re-draws the kernel at each cell's seed). Common kinds keep the course's
    names (dense_k, conv_k, act_k, bn_k) so diagnostics and reports treat them alike."""
    cls = getattr(keras.layers, spec.type)
    args = dict(spec.args)
    if "kernel_initializer" in layer_args(spec.type):
        args.update(kernel_initializer=kernel_initializer(cfg), kernel_regularizer=kernel_regularizer(cfg))
    kind = (
        KERAS_KINDS.get(spec.type) or re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z0-9])(?=[A-Z][a-z])", "_", spec.type).lower()
    )
    return cls(**args, name=name(kind))


def layer_args(layer_type: str) -> list[str]:
    """The constructor arguments of a Keras layer class (study/spec/layer_table.py)."""
    from study.spec.layer_table import keras_layers

    return keras_layers()[layer_type]["args"]


def batch_norm(cfg: ModelConfig, layer_name: str) -> keras.layers.BatchNormalization:
    """BatchNormalization with the study's momentum and epsilon."""
    return keras.layers.BatchNormalization(momentum=cfg.bn_momentum, epsilon=cfg.bn_epsilon, name=layer_name)


def freeze_affine(model: keras.Sequential) -> None:
    """Keep BN's gamma at 1 and beta at 0 (the course never updated them) while statistics still move."""
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.gamma.trainable = False
            layer.beta.trainable = False


def activation_fn(name: str):
    """A Keras activation by the study's name (`leaky_relu` uses Keras's slope 0.2)."""
    return keras.activations.get(name)


def save_keras(model: keras.Model, x_test: np.ndarray, num_outputs: int) -> SavedKeras:
    """The trained model saved by Keras itself into a new temporary folder, on the training thread (a
    cached engine trains the next cell into the same model), with its first test rows as input example."""
    from study.engine.own_model import model_code

    path = os.path.join(tempfile.mkdtemp(prefix=f"{KERAS_TEMP_PREFIX}{os.getpid()}-"), KERAS_FILE)
    model.save(path)
    example = np.ascontiguousarray(x_test[:EXAMPLE_ROWS], np.float32)
    code, modules = model_code(model)  # a builder's model: its code goes with it
    return SavedKeras(path, keras.__version__, keras.backend.backend(), example, num_outputs, code, modules)
