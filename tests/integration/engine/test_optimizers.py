"""The optimisers of study/engine/optimizers.py follow the course's update rules, proved on tiny inputs.

They are checked against hand-written NumPy versions of Keras 3's update rules (see
docs/course.md for where they differ from the course's NumPy code) on the quadratic loss
0.5·w², whose gradient is w itself.
"""

from __future__ import annotations

import numpy as np
import pytest

from study.spec.optimizer import OptimizerConfig

W0 = np.array([1.0, -2.0, 0.5, 1e-3], np.float32)  # the last weight's gradient is tiny: eps matters there
STEPS = 3


# --- optimisers ------------------------------------------------------------------------------


def keras_steps(cfg: OptimizerConfig, w0: np.ndarray = W0, steps: int = STEPS) -> list[np.ndarray]:
    """w after each of `steps` updates of study.engine.optimizers.build_optimizer(cfg) on loss 0.5·w²."""
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
        alpha = lr * np.sqrt(1 - b2**t) / (1 - b1**t)  # bias correction folded into the step size
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


# --- the other Keras optimisers, clipping and schedules ------------------------------------------


@pytest.mark.parametrize(
    "name, cls, expected",
    [
        ("adadelta", "Adadelta", {"rho": 0.9, "epsilon": 1e-6}),
        ("adamax", "Adamax", {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6}),
        ("nadam", "Nadam", {"beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6}),
        ("adamw", "AdamW", {"beta_1": 0.8, "beta_2": 0.99, "weight_decay": 0.004}),
    ],
)
def test_further_keras_optimisers_take_the_settings(name, cls, expected):
    from study.engine.optimizers import build_optimizer

    cfg = OptimizerConfig(name=name, lr=0.05, rho=0.9, beta_1=0.8, beta_2=0.99, epsilon=1e-6)
    opt = build_optimizer(cfg)
    assert type(opt).__name__ == cls
    config = opt.get_config()
    assert config["learning_rate"] == pytest.approx(0.05)
    for key, value in expected.items():
        assert config[key] == pytest.approx(value), key


def test_adamw_decays_weights_and_weight_decay_is_settable():
    from study.engine.optimizers import build_optimizer

    assert build_optimizer(OptimizerConfig(name="adamw", weight_decay=0.1)).get_config()["weight_decay"] == 0.1
    # lr 0.01, decay 0.1: the decoupled decay shrinks w by lr·wd·w before Adam's step of ~lr
    after = keras_steps(OptimizerConfig(name="adamw", lr=0.01, weight_decay=0.1), steps=1)[0]
    plain = keras_steps(OptimizerConfig(name="adam", lr=0.01), steps=1)[0]
    np.testing.assert_allclose(plain - after, 0.01 * 0.1 * W0, rtol=1e-3, atol=1e-8)


def test_clipnorm_and_clipvalue_bound_the_gradient():
    clipped = keras_steps(OptimizerConfig(name="sgd", lr=1.0, clipvalue=0.5), steps=1)[0]
    np.testing.assert_allclose(clipped, W0 - np.clip(W0, -0.5, 0.5), rtol=1e-6)
    normed = keras_steps(OptimizerConfig(name="sgd", lr=1.0, clipnorm=1.0), steps=1)[0]
    np.testing.assert_allclose(normed, W0 - W0 / np.linalg.norm(W0), rtol=1e-6)


SCHEDULES = {
    "step": ({"name": "step", "boundaries": [2, 4], "factors": [0.1, 0.01]}, [1, 1, 0.1, 0.1, 0.01, 0.01]),
    "exponential": (
        {"name": "exponential", "decay_steps": 2, "decay_rate": 0.5, "staircase": True},
        [1, 1, 0.5, 0.5, 0.25, 0.25],
    ),
    "cosine": ({"name": "cosine", "decay_steps": 4}, [1, 0.5 + 0.5 * np.cos(np.pi / 4), 0.5, 0.1464466, 0, 0]),
    "cosine warm-up": (
        {"name": "cosine", "decay_steps": 4, "warmup_steps": 2},
        [0, 0.5, 1, 0.5 + 0.5 * np.cos(np.pi / 4), 0.5, 0.1464466],
    ),
    "warmup": ({"name": "warmup", "warmup_steps": 4}, [0, 0.25, 0.5, 0.75, 1, 1]),
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_schedules_scale_the_peak_learning_rate(name):
    """Each schedule's rate at the optimiser's counter 0..5 (iteration 1..6), as a fraction of `lr`."""
    from study.engine.optimizers import learning_rate

    doc, fractions = SCHEDULES[name]
    schedule = learning_rate(OptimizerConfig.model_validate({"lr": 0.2, "schedule": doc}))
    got = [float(schedule(step)) for step in range(6)]
    np.testing.assert_allclose(got, 0.2 * np.array(fractions, float), rtol=1e-5, atol=1e-7)
