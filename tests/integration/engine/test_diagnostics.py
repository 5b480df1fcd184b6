"""The engine's per-layer diagnostics (study/engine/diagnostics.py) against an explicit replay.

A tiny dense net (16 inputs, hidden [5, 4], 10 classes) trains two SGD iterations on 30 random
images with diagnostics at every iteration. The replay rebuilds the same model with the engine's
documented initial weights (each kernel drawn by `kernel_initializer` with the per-layer seed
`derived_seed(seed, i)`, biases zero), draws the same batches (the engine's `_batch_indices` is a
stateless function of seed and iteration; the replay asks the cell's own engine, `engine_for`),
takes the gradient with its own `tf.GradientTape`,
applies the SGD update by hand in NumPy and computes every statistic from its definition.
"""

from __future__ import annotations

import numpy as np
import pytest

from study.data.dataset import Dataset
from study.engine.backend import keras, tf
from study.engine.build import build_model, kernel_initializer
from study.engine.graph import derived_seed
from study.engine.training_loop import engine_for, set_seed, train_and_evaluate
from study.spec.settings import Settings
from tests.support.doubles import Recorder

ROWS, TEST_ROWS, FEATURES, CLASSES = 30, 12, 16, 10
HIDDEN = [5, 4]
LR = 0.5  # large, so that the second iteration starts from visibly different weights
ITERATIONS = 2
RTOL = 1e-5
MARGIN = 0.02  # the documented saturation rule: within 0.02 of an asymptote


def tiny_data(seed: int) -> Dataset:
    """30 training and 12 test 'images' of 16 uniform pixels with random labels."""
    rng = np.random.default_rng(seed)
    return Dataset(
        name="tiny",
        x_train=rng.random((ROWS, FEATURES), dtype=np.float32),
        y_train=rng.integers(0, CLASSES, ROWS).astype(np.int32),
        x_test=rng.random((TEST_ROWS, FEATURES), dtype=np.float32),
        y_test=rng.integers(0, CLASSES, TEST_ROWS).astype(np.int32),
        digest="tiny",
        source="test",
    )


def tiny_settings(activation: str, init_std: float) -> Settings:
    """Hidden [5, 4] with gauss(init_std) weights, SGD, batch 10, two iterations, diagnostics every one."""
    return Settings.model_validate(
        {
            "model": {"hidden": HIDDEN, "activation": activation, "initializer": "gauss", "init_std": init_std},
            "optimizer": {"name": "sgd", "lr": LR},
            "train": {
                "iterations": ITERATIONS,
                "batch_size": 10,
                "eval_every": 1,
                "diagnostics_every": 1,
                "sampling": "with_replacement",
                "eval_train": "batch",
            },
        }
    )


def engine_values(settings: Settings, seed: int, data: Dataset, step_by_step: bool = False) -> Recorder:
    """Train with the engine and return what the callback recorded."""
    recorder = Recorder()
    train_and_evaluate(settings, seed, data, [recorder], step_by_step=step_by_step)
    return recorder


def replay(settings: Settings, seed: int, data: Dataset) -> tuple[dict, dict[tuple[str, int], float]]:
    """(initial weights, {(metric, iteration): value}) computed from the definitions, step by step."""
    set_seed(seed)
    model = build_model(settings.model, data.input_shape, data.num_classes)
    dense = [layer for layer in model.layers if layer.name.startswith("dense_")]
    for i, layer in enumerate(dense):
        init = kernel_initializer(settings.model, seed=derived_seed(seed, i))
        layer.kernel.assign(init(layer.kernel.shape, dtype=layer.kernel.dtype))
    initial = {v.path: v.numpy().copy() for v in model.trainable_variables}
    assert not any(layer.bias.numpy().any() for layer in dense)
    sampler = engine_for(settings, seed, data)  # the cell's engine, reset to `seed`: its batches, not its weights
    expected = {}
    for step in range(1, ITERATIONS + 1):
        rows = sampler._batch_indices(tf.constant(step)).numpy()
        acts = {}
        with tf.GradientTape() as tape:
            x = tf.constant(data.x_train[rows])
            for layer in model.layers:
                x = layer(x, training=True)
                if layer.name.startswith("act_"):
                    acts[layer.name] = x.numpy().astype(np.float64)
            loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(data.y_train[rows], x))
        grads = tape.gradient(loss, [v for layer in dense for v in (layer.kernel, layer.bias)])
        for layer, g_kernel, g_bias in zip(dense, grads[::2], grads[1::2]):
            w, g, gb = (t.numpy().astype(np.float64) for t in (layer.kernel, g_kernel, g_bias))
            w_new = w - LR * g
            expected |= {
                (f"grad_norm/{layer.name}", step): np.linalg.norm(g),
                (f"grad_norm_bias/{layer.name}", step): np.linalg.norm(gb),
                (f"weight_norm/{layer.name}", step): np.linalg.norm(w_new),
                (f"update_ratio/{layer.name}", step): np.linalg.norm(w_new - w) / np.linalg.norm(w_new),
            }
            layer.kernel.assign(w_new.astype(np.float32))
            layer.bias.assign((layer.bias.numpy() - LR * gb).astype(np.float32))
        for name, y in acts.items():
            expected |= {(f"act_{key}/{name}", step): value for key, value in activation_stats(y, settings).items()}
    return initial, expected


def activation_stats(y: np.ndarray, settings: Settings) -> dict[str, float]:
    """Mean, standard deviation, saturated and dead fractions of one layer's outputs on the batch."""
    fn = settings.model.activation
    saturated = np.mean((y < MARGIN) | (y > 1 - MARGIN)) if fn == "sigmoid" else 0.0
    dead = np.mean(np.all(y == 0, axis=0)) if fn == "relu" else 0.0
    return {"mean": y.mean(), "std": y.std(), "saturated": saturated, "dead": dead}


def check_against_replay(settings: Settings, seed: int, step_by_step: bool = False) -> dict:
    """Assert that the engine's diagnostics equal the replay's; return the expected values."""
    data = tiny_data(seed)
    recorded = engine_values(settings, seed, data, step_by_step)
    initial, expected = replay(settings, seed, data)
    assert recorded.initial.keys() == initial.keys()
    for path, weights in initial.items():
        np.testing.assert_array_equal(recorded.initial[path], weights)
    assert set(recorded.diagnostics) == set(expected)
    assert len(expected) == ITERATIONS * (3 * 4 + 2 * 4)  # 3 kernel layers, 2 activation layers
    for key, value in expected.items():
        assert recorded.diagnostics[key] == pytest.approx(value, rel=RTOL, abs=1e-12), key
    return expected


@pytest.mark.parametrize("step_by_step", [False, True])
def test_sigmoid_gradients_weights_updates_and_saturation(step_by_step):
    expected = check_against_replay(tiny_settings("sigmoid", init_std=2.0), seed=3, step_by_step=step_by_step)
    saturated = [v for (name, _), v in expected.items() if name.startswith("act_saturated/")]
    assert any(0 < v < 1 for v in saturated)  # the rule is exercised on both sides of the margin
    assert all(v == 0 for (name, _), v in expected.items() if name.startswith("act_dead/"))
    assert all(v > 0 for (name, _), v in expected.items() if name.startswith("grad_norm/"))


def test_relu_dead_units():
    expected = check_against_replay(tiny_settings("relu", init_std=1.0), seed=1)
    dead = [v for (name, _), v in expected.items() if name.startswith("act_dead/")]
    assert any(v > 0 for v in dead) and all(v < 1 for v in dead)
    assert all(v == 0 for (name, _), v in expected.items() if name.startswith("act_saturated/"))


def test_no_diagnostics_when_off():
    settings = tiny_settings("relu", init_std=1.0)
    off = settings.model_copy(update={"train": settings.train.model_copy(update={"diagnostics_every": 0})})
    assert engine_values(off, 1, tiny_data(1)).diagnostics == {}
