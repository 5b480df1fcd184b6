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

Layer names are stable (`dense_1`, `act_1`, `bn_1`, `conv_1`, …) so per-layer metrics line up
across cells.
"""

from __future__ import annotations

from study.config import (
    ActivationLayer,
    BatchNormLayer,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    FlattenLayer,
    ModelConfig,
    PoolLayer,
)
from study.engine.backend import keras

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


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], num_classes: int) -> keras.Sequential:
    """The cell's network, ending in a softmax over `num_classes`; built, not compiled.

    With `model.hidden` the output layer `dense(num_classes)` is added; an explicit `model.layers`
    stack is taken as written up to the logits (it ends in its own `dense` of `num_classes`).
    A flat input meets a convolution as a 28×28×1 image; a flatten is inserted before the first
    dense layer that follows convolutions or pooling.
    """
    name = Namer()
    explicit = cfg.layers is not None
    stack = list(cfg.layers) if cfg.layers is not None else dense_stack(cfg)
    layers: list[keras.layers.Layer] = [keras.Input(shape=input_shape)]
    if len(input_shape) == 1 and any(isinstance(s, Conv2DLayer) for s in stack):
        side = int(round(input_shape[0] ** 0.5))
        layers.append(keras.layers.Reshape((side, side, 1), name="to_image"))
    spatial = len(layers) > 1 or len(input_shape) > 1
    for spec in stack:
        if isinstance(spec, DenseLayer) and spatial:
            layers.append(keras.layers.Flatten(name=name("flatten")))
        if isinstance(spec, (DenseLayer, FlattenLayer)):
            spatial = False
        layers.extend(keras_layers(spec, cfg, name))
    if not explicit:
        layers.append(dense(num_classes, cfg, name))
    layers.append(keras.layers.Activation("softmax", name="softmax"))
    model = keras.Sequential(layers, name="net")
    if model.output_shape[-1] != num_classes or len(model.output_shape) != 2:
        raise ValueError(
            f"model.layers must end in a dense layer of {num_classes} units; output is {model.output_shape}"
        )
    if not cfg.bn_train_affine:
        freeze_affine(model)
    return model


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
    raise TypeError(f"unknown layer spec {spec!r}")


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
