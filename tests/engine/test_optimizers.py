"""The course's semantics, proved on tiny inputs: optimiser update rules, penalties, padded
convolutions, frozen BatchNormalization, dropout scaling, whole-subset training accuracy, and
the course study files themselves.

Optimisers are checked against hand-written NumPy versions of Keras 3's update rules (see
docs/course.md for where they differ from the course's NumPy code) on the quadratic loss
0.5·w², whose gradient is w itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from study.config import ModelConfig, OptimizerConfig, Settings
from study.grid import expand
from study.studyfile import load_study

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
W0 = np.array([1.0, -2.0, 0.5, 1e-3], np.float32)  # the last weight's gradient is tiny: eps matters there
STEPS = 3


# --- optimisers ------------------------------------------------------------------------------


def keras_steps(cfg: OptimizerConfig, w0: np.ndarray = W0, steps: int = STEPS) -> list[np.ndarray]:
    """w after each of `steps` updates of study.engine.train.build_optimizer(cfg) on loss 0.5·w²."""
    from study.engine.backend import keras
    from study.engine.optimizers import build_optimizer

    w = keras.Variable(w0.copy(), dtype="float32")
    opt = build_optimizer(cfg)
    out = []
    for _ in range(steps):
        opt.apply([keras.ops.convert_to_tensor(np.asarray(w.numpy()))], [w])  # gradient of 0.5·w² is w
        out.append(np.asarray(w.numpy()).copy())
    return out


def numpy_steps(update, w0: np.ndarray = W0, steps: int = STEPS) -> list[np.ndarray]:
    """w after each step of `update(w, g, state, t) -> w`, in float64, with g = w."""
    w, state, out = w0.astype(np.float64), {}, []
    for t in range(1, steps + 1):
        w = update(w, w.copy(), state, t)
        out.append(w.copy())
    return out


def sgd(lr):
    return lambda w, g, s, t: w - lr * g


def momentum(lr, m, nesterov=False):
    def update(w, g, s, t):
        s["v"] = m * s.get("v", 0.0) - lr * g
        return w + (m * s["v"] - lr * g if nesterov else s["v"])
    return update


def adagrad(lr, eps, h0=0.0, course=False):
    def update(w, g, s, t):
        s["h"] = s.get("h", h0) + g * g
        denom = np.sqrt(s["h"]) + eps if course else np.sqrt(s["h"] + eps)
        return w - lr * g / denom
    return update


def rmsprop(lr, rho, eps, course=False):
    def update(w, g, s, t):
        s["h"] = rho * s.get("h", 0.0) + (1 - rho) * g * g
        denom = np.sqrt(s["h"]) + eps if course else np.sqrt(s["h"] + eps)
        return w - lr * g / denom
    return update


def adam(lr, b1, b2, eps):
    def update(w, g, s, t):
        s["m"] = s.get("m", 0.0) + (1 - b1) * (g - s.get("m", 0.0))
        s["v"] = s.get("v", 0.0) + (1 - b2) * (g * g - s.get("v", 0.0))
        alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)  # bias correction folded into the step size
        return w - alpha * s["m"] / (np.sqrt(s["v"]) + eps)
    return update


# The course's hyperparameters (optimizer study) and their NumPy update rules, Keras placement.
OPTIMIZER_CASES = {
    "sgd": (OptimizerConfig(name="sgd", lr=0.01), sgd(0.01)),
    "momentum": (OptimizerConfig(name="momentum", lr=0.3, momentum=0.9), momentum(0.3, 0.9)),
    "nesterov": (OptimizerConfig(name="nesterov", lr=0.3, momentum=0.9), momentum(0.3, 0.9, nesterov=True)),
    "adagrad": (OptimizerConfig(name="adagrad", lr=0.1), adagrad(0.1, 1e-7)),
    "rmsprop": (OptimizerConfig(name="rmsprop", lr=0.01, rho=0.99), rmsprop(0.01, 0.99, 1e-7)),
    "adam": (OptimizerConfig(name="adam", lr=0.01, beta_1=0.9, beta_2=0.999), adam(0.01, 0.9, 0.999, 1e-7)),
}


@pytest.mark.parametrize("name", list(OPTIMIZER_CASES))
def test_optimizer_matches_hand_computed_steps(name):
    cfg, update = OPTIMIZER_CASES[name]
    for got, want in zip(keras_steps(cfg), numpy_steps(update)):
        np.testing.assert_allclose(got, want, rtol=2e-5, atol=1e-8)


def test_adagrad_accumulator_starts_at_zero():
    # h = g² after one step, so every weight moves by lr·g/sqrt(g² + eps) ≈ lr·sign(g) (Keras's
    # default h0 = 0.1 would move w=1 by only 0.1/sqrt(1.1) ≈ 0.095 of that).
    first = keras_steps(OptimizerConfig(name="adagrad", lr=0.1), steps=1)[0]
    np.testing.assert_allclose(first[:3], W0[:3] - 0.1 * np.sign(W0[:3]), rtol=1e-6)
    keras_default = numpy_steps(adagrad(0.1, 1e-7, h0=0.1), steps=1)[0]
    assert not np.allclose(first, keras_default, rtol=1e-3)


def test_rmsprop_decay_is_the_courses_0_99():
    # h = (1 - rho)·g² after one step: the step is lr/sqrt(0.01) = 10·lr per unit sign, not
    # lr/sqrt(0.1) ≈ 3.16·lr as with Keras's default rho = 0.9.
    first = keras_steps(OptimizerConfig(name="rmsprop", lr=0.01, rho=0.99), steps=1)[0]
    np.testing.assert_allclose(first[:3], W0[:3] - 0.1 * np.sign(W0[:3]), rtol=1e-5)


def test_adam_bias_correction_makes_first_step_lr_sized():
    # m̂ = g and v̂ = g² after one step, so each weight moves by lr·g/(|g| + eps) ≈ lr.
    first = keras_steps(OptimizerConfig(name="adam", lr=0.01), steps=1)[0]
    np.testing.assert_allclose(first[:3], W0[:3] - 0.01 * np.sign(W0[:3]), rtol=1e-5)


EPS_CASES = {  # name: (config at the course's values, the course's rule with eps outside the root)
    "adagrad": (OptimizerConfig(name="adagrad", lr=0.1), adagrad(0.1, 1e-7, course=True)),
    "rmsprop": (OptimizerConfig(name="rmsprop", lr=0.01, rho=0.99), rmsprop(0.01, 0.99, 1e-7, course=True)),
}


@pytest.mark.parametrize("name", list(EPS_CASES))
def test_epsilon_placement_keras_vs_course_and_the_squared_epsilon_mapping(name):
    # Keras divides by sqrt(h + eps), the course by sqrt(h) + eps. Both move a weight whose
    # gradient is large by the same amount; for the weight whose gradient is 1e-3 the first
    # step of Keras is shorter (AdaGrad: h = 1e-6, 1/sqrt(1.1) = 0.953×; RMSprop with decay
    # 0.99: h = 1e-8, 0.30×), while `epsilon: 1e-14` (1e-7 squared) matches the course.
    cfg, course = EPS_CASES[name]
    course_move = W0 - numpy_steps(course, steps=1)[0]
    keras_move = W0 - keras_steps(cfg, steps=1)[0]
    mapped_move = W0 - keras_steps(cfg.model_copy(update={"epsilon": 1e-14}), steps=1)[0]
    np.testing.assert_allclose(keras_move[:3], course_move[:3], rtol=1e-4)
    h = {"adagrad": 1e-6, "rmsprop": (1 - 0.99) * 1e-6}[name]  # the accumulator after one step of g = 1e-3
    ratio = (np.sqrt(h) + 1e-7) / np.sqrt(h + 1e-7)
    assert ratio < 0.96
    assert keras_move[3] / course_move[3] == pytest.approx(ratio, rel=1e-3)
    np.testing.assert_allclose(mapped_move, course_move, rtol=2e-3)


# --- penalties -------------------------------------------------------------------------------


def penalty(model) -> float:
    """The model's weight penalty as Keras adds it to the training loss."""
    return float(sum(np.asarray(loss) for loss in model.losses))


def kernels(model) -> list[np.ndarray]:
    """Every kernel (dense and conv weights, output layer included), no biases, no BN."""
    return [np.asarray(v.numpy(), np.float64) for v in model.trainable_variables if v.path.endswith("/kernel")]


@pytest.mark.parametrize("l1, l2", [(0.0, 0.1), (0.005, 0.0), (0.004, 0.3)])
def test_penalty_is_l1_sum_abs_plus_half_l2_sum_squares(l1, l2):
    from study.engine.model import build_model

    cfg = ModelConfig(hidden=[7, 5], initializer="he", l1=l1, l2=l2, batch_norm="before")
    model = build_model(cfg, (6,), 10)
    ws = kernels(model)
    assert [w.shape for w in ws] == [(6, 7), (7, 5), (5, 10)]  # the output layer is penalised too
    want = sum(l1 * np.abs(w).sum() + 0.5 * l2 * (w ** 2).sum() for w in ws)
    assert penalty(model) == pytest.approx(want, rel=1e-5)


def test_conv_kernels_are_penalised_too():
    from study.config import Conv2DLayer, DenseLayer
    from study.engine.model import build_model

    layers = [Conv2DLayer(type="conv2d", filters=3, kernel=3, padding=1), DenseLayer(type="dense", units=10)]
    model = build_model(ModelConfig(layers=layers, initializer="he", l2=0.2), (784,), 10)
    ws = kernels(model)
    assert ws[0].shape == (3, 3, 1, 3)
    assert penalty(model) == pytest.approx(sum(0.1 * (w ** 2).sum() for w in ws), rel=1e-5)


def test_no_penalty_without_l1_l2():
    from study.engine.model import build_model

    assert build_model(ModelConfig(hidden=[4]), (6,), 10).losses == []


# --- convolutions: the CNN study's shapes -----------------------------------------------------


def output_shapes(model) -> dict[str, tuple]:
    """Layer name -> output shape without the batch axis."""
    return {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}


def cnn_models() -> dict[str, object]:
    """The CNN study's three networks, built as the runner builds them (flat 784 input)."""
    from study.engine.model import build_model

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
        (28, 28, 16), (28, 28, 16), (14, 14, 32), (16, 16, 32), (8, 8, 64), (8, 8, 64)]  # conv 4 pads 2
    assert deep["flatten_1"] == (1024,)  # the course's 64·4·4


def test_deep_cnn_ends_in_dropout_after_the_logits():
    names = [layer.name for layer in cnn_models()["deep"].layers]
    assert names[-4:] == ["dropout_1", "dense_2", "dropout_2", "softmax"]


# --- dropout: Keras's inverted scaling -----------------------------------------------------------


def test_dropout_scales_at_train_time_and_is_identity_at_test_time():
    from study.engine.backend import keras
    from study.engine.model import build_model

    model = build_model(ModelConfig(hidden=[4], dropout=0.25), (6,), 10)
    drop = next(layer for layer in model.layers if isinstance(layer, keras.layers.Dropout))
    x = np.ones((200, 50), np.float32)
    train = np.asarray(drop(x, training=True))
    np.testing.assert_allclose(np.unique(train), [0.0, 1 / 0.75], rtol=1e-6)
    assert 0.2 < (train == 0).mean() < 0.3
    np.testing.assert_array_equal(np.asarray(drop(x, training=False)), x)


# --- training: frozen BN affine, whole-subset train accuracy --------------------------------------


class KeepModel:
    """A callback that only remembers the trained model and the eval logs."""

    def __init__(self):
        self.model, self.logs = None, []

    def set_model(self, model):
        self.model = model

    def on_train_begin(self, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        self.logs.append(dict(logs))

    def on_train_end(self, logs=None):
        pass


def train_tiny(mnist_dir, train_size: int, **sections) -> KeepModel:
    """Train a tiny cell on the first `train_size` MNIST images; returns the callback."""
    from study.data import load_dataset
    from study.engine.train import train_and_evaluate

    settings = Settings.model_validate({"data": {"train_size": train_size, "test_size": 100}, **sections})
    data = load_dataset("mnist", str(mnist_dir), train_size, 100)
    keep = KeepModel()
    train_and_evaluate(settings, 0, data, callbacks=[keep])
    keep.data = data
    return keep


def bn_layers(model):
    from study.engine.backend import keras

    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


@pytest.mark.parametrize("train_affine", [False, True])
def test_bn_gamma_beta_frozen_or_trained(mnist_dir, train_affine):
    keep = train_tiny(
        mnist_dir, 200,
        model={"hidden": [16, 8], "activation": "sigmoid", "initializer": "xavier", "batch_norm": "before",
               "bn_train_affine": train_affine},
        optimizer={"name": "sgd", "lr": 0.5},
        train={"iterations": 6, "batch_size": 50, "eval_every": 3},
    )
    for bn in bn_layers(keep.model):
        gamma, beta = np.asarray(bn.gamma.numpy()), np.asarray(bn.beta.numpy())
        assert np.any(np.asarray(bn.moving_mean.numpy()) != 0)  # batch statistics move either way
        if train_affine:
            assert np.any(gamma != 1) and np.any(beta != 0)
        else:
            assert np.all(gamma == 1) and np.all(beta == 0)  # exactly: never touched
            assert not any(v is bn.gamma or v is bn.beta for v in keep.model.trainable_variables)


def test_small_train_set_is_evaluated_whole(mnist_dir):
    keep = train_tiny(
        mnist_dir, 300,
        model={"hidden": [32], "activation": "relu", "initializer": "he"},
        optimizer={"name": "sgd", "lr": 0.1},
        train={"iterations": 20, "batch_size": 100, "eval_every": 10, "eval_train": "auto"},
    )
    accs = np.array([log["train_acc"] for log in keep.logs])
    assert len(accs) == 3  # iterations 0, 10, 20
    np.testing.assert_allclose(accs * 300, np.round(accs * 300), atol=1e-3)
    probs = np.asarray(keep.model(keep.data.x_train, training=False))
    whole = float(np.mean(probs.argmax(axis=1) == keep.data.y_train))
    assert accs[-1] == pytest.approx(whole, abs=1e-6)  # the whole 300, not the last mini-batch of 100


# --- the course study files ------------------------------------------------------------------------


def cells_of(name: str):
    return expand(load_study(CONFIGS / f"{name}.yaml"))


def test_course_study_files_expand_to_their_grids():
    counts = {name: len(cells_of(name)) for name in ("batch_norm", "optimizers", "overfitting", "cnn", "activations")}
    assert counts == {"batch_norm": 6, "optimizers": 10, "overfitting": 5, "cnn": 3, "activations": 60}


def test_optimizer_study_uses_the_courses_hyperparameters():
    by_name = {c.settings.optimizer.name: c.settings.optimizer for c in cells_of("optimizers")
               if c.settings.model.batch_norm == "off"}
    assert set(by_name) == {"sgd", "momentum", "adagrad", "rmsprop", "adam"}
    assert (by_name["sgd"].lr, by_name["momentum"].lr, by_name["momentum"].momentum) == (0.01, 0.3, 0.9)
    assert (by_name["adagrad"].lr, by_name["adagrad"].initial_accumulator) == (0.1, 0.0)
    assert (by_name["rmsprop"].lr, by_name["rmsprop"].rho) == (0.01, 0.99)
    assert (by_name["adam"].lr, by_name["adam"].beta_1, by_name["adam"].beta_2) == (0.01, 0.9, 0.999)


def test_overfitting_study_cells():
    cells = {c.group: c.settings for c in cells_of("overfitting")}
    got = {g: (s.model.l1, s.model.l2, s.model.dropout, s.optimizer.lr) for g, s in cells.items()}
    assert sorted(got.values()) == sorted([(0.0, 0.0, 0.0, 0.01), (0.0, 0.1, 0.0, 0.01), (0.005, 0.0, 0.0, 0.1),
                                           (0.0, 0.0, 0.15, 0.01), (0.004, 0.0, 0.08, 0.01)])
    for s in cells.values():
        assert s.data.train_size == 300 and s.model.hidden == [100] * 6 and s.train.eval_train in ("auto", "full")


def test_batch_norm_study_is_the_courses_setup():
    cells = cells_of("batch_norm")
    assert {(c.settings.model.activation, c.settings.model.initializer, c.settings.model.batch_norm) for c in cells} == {
        (a, i, bn) for a, i in (("sigmoid", "xavier"), ("relu", "he")) for bn in ("off", "before", "after")}
    for c in cells:
        m = c.settings.model
        assert (m.hidden, m.bn_momentum, m.bn_epsilon, m.bn_train_affine) == ([40, 20], 0.9, 1e-6, True)
        assert (c.settings.optimizer.name, c.settings.optimizer.lr, c.settings.train.iterations) == ("sgd", 0.01, 1000)
