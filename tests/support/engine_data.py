"""Inputs of the engine's task tests: a Keras convolutional stack, MNIST subsets, a regression table."""

from __future__ import annotations

import numpy as np

from study.data.dataset import Dataset

CNN_LAYERS = [
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "padding": "same"},
    {"type": "activation", "name": "relu"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Conv2D", "filters": 6, "kernel_size": 3, "padding": "same", "activation": "relu"},
    {"type": "GlobalAveragePooling2D"},
    {"type": "LayerNormalization"},
    {"type": "dense", "units": 10},
]


def mnist(mnist_dir, train: int = 200, test: int = 100) -> Dataset:
    from study.data.loading import load_dataset

    return load_dataset("mnist", str(mnist_dir), train, test)


def regression_table(rows: int = 400, test: int = 100, features: int = 6, targets: int = 1) -> Dataset:
    """y = x·W + 0.5·sin(3·x₀) + small noise: a table a dense net can fit."""
    rng = np.random.default_rng(3)
    w = rng.normal(size=(features, targets)).astype(np.float32)

    def split(n):
        x = rng.normal(size=(n, features)).astype(np.float32)
        y = x @ w + 0.5 * np.sin(3 * x[:, :1]) + 0.01 * rng.normal(size=(n, targets))
        return x, (y[:, 0] if targets == 1 else y).astype(np.float32)

    (x_train, y_train), (x_test, y_test) = split(rows), split(test)
    return Dataset("table", x_train, y_train, x_test, y_test, digest="table", source="test")
