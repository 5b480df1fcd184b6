"""Model builder: exact initialiser laws, layer structure for every option, penalties, conv shapes, and
the course's semantics on tiny inputs (penalties of every kernel, the CNN study's padded convolutions,
Keras's inverted dropout scaling)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from study.check.validated_study import load_study
from study.engine.backend import keras
from study.engine.build import build_model
from study.plan.grid import expand
from study.spec.model import ModelConfig
from tests.support.paths import REPO

CONFIGS = REPO / "configs"

FAN_IN, UNITS = 2000, 500  # a wide layer: 1,000,000 weights pin the std to ~0.1 %
REL_TOL = 0.03


def build(input_shape=(784,), seed: int = 0, **model) -> keras.Sequential:
    """A model from ModelConfig fields, with Keras seeded so the draw is reproducible."""
    keras.utils.set_random_seed(seed)
    return build_model(ModelConfig(**model), input_shape, 10)


def layer_names(model: keras.Sequential) -> list[str]:
    return [layer.name for layer in model.layers]


def first_kernel(initializer: str, **extra) -> np.ndarray:
    """The 2000×500 kernel of a wide model's first dense layer."""
    model = build((FAN_IN,), hidden=[UNITS], initializer=initializer, **extra)
    return model.get_layer("dense_1").kernel.numpy()


# --- initialisers ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "initializer, extra, sigma",
    [
        ("gauss", {"init_std": 0.01}, 0.01),
        ("gauss", {"init_std": 0.2}, 0.2),
        ("xavier", {}, math.sqrt(1 / FAN_IN)),
        ("he", {}, math.sqrt(2 / FAN_IN)),
    ],
)
def test_course_initialisers_are_exact_untruncated_normals(initializer, extra, sigma):
    w = first_kernel(initializer, **extra)
    assert w.shape == (FAN_IN, UNITS)
    assert w.std() == pytest.approx(sigma, rel=REL_TOL)
    assert abs(w.mean()) < 0.01 * sigma
    # With 10^6 draws an untruncated normal reaches ~4.9σ; a 2σ-truncated one never passes 2σ.
    assert np.abs(w).max() > 2.5 * sigma
    assert np.mean(np.abs(w) > 2 * sigma) == pytest.approx(0.0455, abs=0.003)  # P(|z| > 2)


def test_keras_normals_are_truncated_unlike_the_course_ones():
    """The contrast the course initialisers exist for: Keras's he_normal is cut off.

    Keras draws from N(0, s²) truncated at ±2s with s = σ / 0.8796 (so the variance is still σ²):
    nothing beyond 2.274σ, where the course's `he` has ~2 % of its draws.
    """
    sigma = math.sqrt(2 / FAN_IN)
    keras_w, course_w = first_kernel("he_normal"), first_kernel("he")
    assert keras_w.std() == pytest.approx(sigma, rel=REL_TOL)
    assert np.abs(keras_w).max() <= 2 * sigma / 0.87962566 * 1.0001
    assert np.mean(np.abs(course_w) > 2.3 * sigma) == pytest.approx(0.0214, abs=0.002)  # P(|z| > 2.3)


def test_biases_start_at_zero():
    model = build(hidden=[30, 20], initializer="gauss")
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            assert not layer.bias.numpy().any()


def test_keras_initializer_by_name():
    w = first_kernel("glorot_uniform")
    limit = math.sqrt(6 / (FAN_IN + UNITS))
    assert np.abs(w).max() <= limit
    assert w.std() == pytest.approx(limit / math.sqrt(3), rel=REL_TOL)


def test_conv_fan_in_counts_the_kernel_area():
    model = build(
        layers=[{"type": "conv2d", "filters": 500, "kernel": 7}, {"type": "dense", "units": 10}], initializer="he"
    )
    w = model.get_layer("conv_1").kernel.numpy()
    assert w.shape == (7, 7, 1, 500)
    assert w.std() == pytest.approx(math.sqrt(2 / 49), rel=REL_TOL)


def test_same_seed_same_weights_other_seed_other_weights():
    a = build(seed=3, hidden=[20]).get_layer("dense_1").kernel.numpy()
    b = build(seed=3, hidden=[20]).get_layer("dense_1").kernel.numpy()
    c = build(seed=4, hidden=[20]).get_layer("dense_1").kernel.numpy()
    assert np.array_equal(a, b) and not np.array_equal(a, c)


# --- structure ---------------------------------------------------------------------------------


def test_hidden_sizes_become_named_dense_layers():
    model = build(hidden=[40, 20], activation="sigmoid")
    assert layer_names(model) == ["dense_1", "act_1", "dense_2", "act_2", "dense_3", "softmax"]
    assert [model.get_layer(f"dense_{i}").units for i in (1, 2, 3)] == [40, 20, 10]
    assert model.count_params() == 784 * 40 + 40 + 40 * 20 + 20 + 20 * 10 + 10


def test_no_hidden_layers_is_softmax_regression():
    model = build(hidden=[])
    assert layer_names(model) == ["dense_1", "softmax"]


@pytest.mark.parametrize(
    "placement, order",
    [
        ("before", ["dense_1", "bn_1", "act_1", "dense_2", "softmax"]),
        ("after", ["dense_1", "act_1", "bn_1", "dense_2", "softmax"]),
        ("off", ["dense_1", "act_1", "dense_2", "softmax"]),
    ],
)
def test_batch_norm_placement(placement, order):
    assert layer_names(build(hidden=[30], batch_norm=placement)) == order


def test_batch_norm_momentum_and_epsilon_are_passed():
    bn = build(hidden=[30], batch_norm="before", bn_momentum=0.8, bn_epsilon=1e-4).get_layer("bn_1")
    assert bn.momentum == pytest.approx(0.8) and bn.epsilon == pytest.approx(1e-4)
    course = build(hidden=[30], batch_norm="before").get_layer("bn_1")
    assert course.momentum == pytest.approx(0.9) and course.epsilon == pytest.approx(1e-6)


def test_frozen_affine_keeps_gamma_and_beta_out_of_training():
    frozen = build(hidden=[30, 20], batch_norm="after", bn_train_affine=False)
    trained = build(hidden=[30, 20], batch_norm="after")
    frozen_names = {v.path for v in frozen.trainable_variables}
    assert not any("gamma" in n or "beta" in n for n in frozen_names)
    assert len(trained.trainable_variables) - len(frozen.trainable_variables) == 4  # 2 BN × (gamma, beta)
    bn = frozen.get_layer("bn_1")
    assert not bn.gamma.trainable and not bn.beta.trainable
    assert np.all(bn.gamma.numpy() == 1) and np.all(bn.beta.numpy() == 0)


def test_dropout_after_every_hidden_activation():
    model = build(hidden=[30, 20], dropout=0.25)
    assert layer_names(model) == [
        "dense_1",
        "act_1",
        "dropout_1",
        "dense_2",
        "act_2",
        "dropout_2",
        "dense_3",
        "softmax",
    ]
    assert model.get_layer("dropout_2").rate == 0.25


ERF = np.vectorize(math.erf)
REFERENCE = {  # the activations written out in numpy
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "relu": lambda x: np.maximum(x, 0),
    "tanh": np.tanh,
    "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),  # Keras's slope
    "elu": lambda x: np.where(x > 0, x, np.expm1(x)),
    "gelu": lambda x: 0.5 * x * (1 + ERF(x / math.sqrt(2))),
    "softplus": lambda x: np.log1p(np.exp(x)),
    "linear": lambda x: x,
}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_activation_layers_compute_the_named_function(name):
    model = build(hidden=[30, 20], activation=name)
    x = np.linspace(-3, 3, 30, dtype=np.float32)[None, :]
    for act in ("act_1", "act_2"):
        got = np.asarray(model.get_layer(act)(x))
        assert np.allclose(got, REFERENCE[name](x.astype(np.float64)), atol=1e-5), act


@pytest.mark.parametrize("l1, l2", [(1e-3, 0.0), (0.0, 1e-2), (2e-3, 5e-2)])
def test_penalty_is_the_course_formula(l1, l2):
    model = build(hidden=[30, 20], l1=l1, l2=l2, initializer="gauss", init_std=0.1)
    kernels = [
        layer.kernel.numpy().astype(np.float64) for layer in model.layers if isinstance(layer, keras.layers.Dense)
    ]
    assert len(kernels) == 3  # the output layer is penalised too
    want = sum(l1 * np.abs(w).sum() + 0.5 * l2 * np.square(w).sum() for w in kernels)
    got = sum(float(loss) for loss in model.losses)
    assert got == pytest.approx(want, rel=1e-5)


def test_no_penalty_by_default():
    assert build(hidden=[30]).losses == []


def test_conv_with_explicit_padding_shapes():
    model = build(
        layers=[
            {"type": "conv2d", "filters": 6, "kernel": 7, "padding": 1},
            {"type": "activation"},
            {"type": "max_pool", "pool": 2},
            {"type": "conv2d", "filters": 3, "kernel": 3, "stride": 2},
            {"type": "dense", "units": 10},
        ]
    )
    assert model.get_layer("to_image").output.shape[1:] == (28, 28, 1)
    assert model.get_layer("pad_1").output.shape[1:] == (30, 30, 1)
    assert model.get_layer("conv_1").output.shape[1:] == (24, 24, 6)  # (28 + 2·1 − 7) + 1
    assert model.get_layer("pool_1").output.shape[1:] == (12, 12, 6)
    assert model.get_layer("conv_2").output.shape[1:] == (5, 5, 3)  # (12 − 3) // 2 + 1
    assert "flatten_1" in layer_names(model)
    assert model.output_shape == (None, 10)


def test_explicit_stack_must_end_in_the_classes():
    with pytest.raises(ValueError, match="10 units"):
        build(layers=[{"type": "dense", "units": 7}])


@pytest.mark.parametrize(
    "model",
    [
        {"hidden": [40, 20]},
        {"hidden": [30], "batch_norm": "before", "dropout": 0.5},
        {
            "layers": [
                {"type": "conv2d", "filters": 4, "kernel": 5},
                {"type": "flatten"},
                {"type": "dense", "units": 10},
            ]
        },
    ],
)
def test_output_is_a_softmax_over_ten(model):
    net = build(**model)
    assert net.output_shape == (None, 10) and net.layers[-1].name == "softmax"
    x = np.random.default_rng(0).random((8, 784), dtype=np.float32)
    probs = net(x, training=False).numpy()
    assert probs.shape == (8, 10)
    assert np.all(probs >= 0) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)


# --- penalties -------------------------------------------------------------------------------


def penalty(model) -> float:
    """The model's weight penalty as Keras adds it to the training loss."""
    return float(sum(np.asarray(loss) for loss in model.losses))


def kernels(model) -> list[np.ndarray]:
    """Every kernel (dense and conv weights, output layer included), no biases, no BN."""
    return [np.asarray(v.numpy(), np.float64) for v in model.trainable_variables if v.path.endswith("/kernel")]


@pytest.mark.parametrize("l1, l2", [(0.0, 0.1), (0.005, 0.0), (0.004, 0.3)])
def test_penalty_is_l1_sum_abs_plus_half_l2_sum_squares(l1, l2):
    from study.engine.build import build_model

    cfg = ModelConfig(hidden=[7, 5], initializer="he", l1=l1, l2=l2, batch_norm="before")
    model = build_model(cfg, (6,), 10)
    ws = kernels(model)
    assert [w.shape for w in ws] == [(6, 7), (7, 5), (5, 10)]  # the output layer is penalised too
    want = sum(l1 * np.abs(w).sum() + 0.5 * l2 * (w**2).sum() for w in ws)
    assert penalty(model) == pytest.approx(want, rel=1e-5)


def test_conv_kernels_are_penalised_too():
    from study.engine.build import build_model
    from study.spec.layers import Conv2DLayer, DenseLayer

    layers = [Conv2DLayer(type="conv2d", filters=3, kernel=3, padding=1), DenseLayer(type="dense", units=10)]
    model = build_model(ModelConfig(layers=layers, initializer="he", l2=0.2), (784,), 10)
    ws = kernels(model)
    assert ws[0].shape == (3, 3, 1, 3)
    assert penalty(model) == pytest.approx(sum(0.1 * (w**2).sum() for w in ws), rel=1e-5)


def test_no_penalty_without_l1_l2():
    from study.engine.build import build_model

    assert build_model(ModelConfig(hidden=[4]), (6,), 10).losses == []


# --- convolutions: the CNN study's shapes -----------------------------------------------------


def output_shapes(model) -> dict[str, tuple]:
    """Layer name -> output shape without the batch axis."""
    return {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}


def cnn_models() -> dict[str, object]:
    """The CNN study's three networks, built as the runner builds them (flat 784 input)."""
    from study.engine.build import build_model

    cells = expand(load_study(CONFIGS / "cnn.yaml"))
    return {cell.settings.model.arch: build_model(cell.settings.model, (784,), 10) for cell in cells}


def test_cnn_study_shapes_follow_explicit_padding():
    shapes = {arch: output_shapes(m) for arch, m in cnn_models().items()}
    simple, double, deep = shapes["simple"], shapes["double"], shapes["deep"]
    assert simple["conv_1"] == (24, 24, 30) and simple["pool_1"] == (12, 12, 30) and simple["flatten_1"] == (4320,)
    assert double["conv_1"] == (24, 24, 10)  # 7×7 with pad 1: 28 + 2 − 7 + 1 = 24
    assert double["conv_2"] == (24, 24, 20)  # 3×3 with pad 1 keeps the size
    assert double["flatten_1"] == (2880,)
    assert [deep[f"conv_{i}"] for i in range(1, 7)] == [
        (28, 28, 16),
        (28, 28, 16),
        (14, 14, 32),
        (16, 16, 32),
        (8, 8, 64),
        (8, 8, 64),
    ]  # conv 4 pads 2
    assert deep["flatten_1"] == (1024,)  # the course's 64·4·4


def test_deep_cnn_ends_in_dropout_after_the_logits():
    names = [layer.name for layer in cnn_models()["deep"].layers]
    assert names[-4:] == ["dropout_1", "dense_2", "dropout_2", "softmax"]


# --- dropout: Keras's inverted scaling -----------------------------------------------------------


def test_dropout_scales_at_train_time_and_is_identity_at_test_time():
    from study.engine.backend import keras
    from study.engine.build import build_model

    model = build_model(ModelConfig(hidden=[4], dropout=0.25), (6,), 10)
    drop = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dropout))
    x = np.ones((200, 50), np.float32)
    train = np.asarray(drop(x, training=True))
    np.testing.assert_allclose(np.unique(train), [0.0, 1 / 0.75], rtol=1e-6)
    assert 0.2 < (train == 0).mean() < 0.3
    np.testing.assert_array_equal(np.asarray(drop(x, training=False)), x)
