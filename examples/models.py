"""Model builders for `model.builder` (configs/own_model.yaml, docs/own_models.md).

A builder is called as `builder(args, input_shape, outputs)`: `args` is the study's `model.args` mapping
(the keys are yours; a grid may vary them), `input_shape` one example's shape (MNIST: (784,) flat, or
(28, 28, 1) with `data.shape: image`), `outputs` the number of classes. It returns a keras.Model whose
output is one softmax over the classes (or, for a regression loss, one linear value per target).
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="examples")
class ResidualBlock(keras.layers.Layer):
    """x + dense(relu(dense(x))): a two-layer residual unit of constant width (a custom layer: it is saved
    with the kept model through Keras serialisation, and reloaded once this module is imported)."""

    def __init__(self, width: int, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.inner = keras.layers.Dense(width, activation="relu", kernel_initializer="he_normal")
        self.outer = keras.layers.Dense(width, kernel_initializer="zeros")

    def call(self, x):
        return x + self.outer(self.inner(x))

    def get_config(self) -> dict:
        return {**super().get_config(), "width": self.width}


def residual_mlp(args: dict, input_shape: tuple[int, ...], outputs: int) -> keras.Model:
    """A small residual MLP: dense(width) → `depth` residual blocks → relu → softmax (args: depth, width)."""
    depth, width = int(args.get("depth", 2)), int(args.get("width", 64))
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Flatten()(inputs) if len(input_shape) > 1 else inputs
    x = keras.layers.Dense(width, kernel_initializer="he_normal", name="stem")(x)
    for i in range(depth):
        x = ResidualBlock(width, name=f"block_{i + 1}")(x)
    x = keras.layers.Activation("relu", name="act_out")(x)
    probs = keras.layers.Dense(outputs, activation="softmax", name="head")(x)
    return keras.Model(inputs, probs, name="residual_mlp")


def two_branch_cnn(args: dict, input_shape: tuple[int, ...], outputs: int) -> keras.Model:
    """Two convolution branches side by side (3×3 and 5×5 kernels, `filters` each), concatenated, pooled,
    then dense(`units`) → softmax: a Functional model (args: filters, units)."""
    filters, units = int(args.get("filters", 8)), int(args.get("units", 64))
    inputs = keras.Input(shape=input_shape)
    x = inputs
    if len(input_shape) == 1:  # flat MNIST: the square one-channel image it came from
        side = math.isqrt(input_shape[0])
        x = keras.layers.Reshape((side, side, 1))(x)
    small = keras.layers.Conv2D(filters, 3, padding="same", kernel_initializer="he_normal", name="conv_3x3")(x)
    large = keras.layers.Conv2D(filters, 5, padding="same", kernel_initializer="he_normal", name="conv_5x5")(x)
    x = keras.layers.Concatenate()([small, large])
    x = keras.layers.Activation("relu", name="act_conv")(x)
    x = keras.layers.MaxPooling2D(2)(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(units, kernel_initializer="he_normal", name="dense")(x)
    x = keras.layers.Activation("relu", name="act_dense")(x)
    probs = keras.layers.Dense(outputs, activation="softmax", name="head")(x)
    return keras.Model(inputs, probs, name="two_branch_cnn")
