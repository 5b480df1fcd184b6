"""`optimizer.rule: course` follows the course notebook's own loop, checked against a NumPy transcription.

The transcription below is the optimiser notebook's loop as it is written: a dict of parameters,
`for key in params`, state created at the first iteration (`i == 0`). Both sides see the same
gradient function, g = w³ − c (elementwise), whose magnitudes span 1e-5 … 1, so the tiny gradients
where AdaGrad's h₀ = 1e-4 and RMSprop's eps matter are covered.
"""

from __future__ import annotations

import numpy as np
import pytest

from study.spec.optimizer import OptimizerConfig

RNG = np.random.default_rng(7)
PARAMS0 = {
    "W1": RNG.normal(0, 0.5, (4, 3)).astype(np.float32),
    "b1": np.array([1e-5, -2e-4, 3e-3], np.float32),
    "W2": RNG.normal(0, 0.01, (3, 2)).astype(np.float32),
}
TARGET = {k: (0.3 * RNG.normal(size=v.shape)).astype(np.float32) for k, v in PARAMS0.items()}
STEPS = 6


def grads_of(params: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The gradient both sides use: w³ − c, in float32."""
    return {k: (w**3 - TARGET[k]).astype(np.float32) for k, w in params.items()}


def course_loop(rule: str, lr: float, steps: int = STEPS) -> list[dict[str, np.ndarray]]:
    """The notebook's optimiser loop, transcribed (float32, like its float32 MNIST arrays)."""
    momentum, decay_rate, beta1, beta2 = 0.9, 0.99, 0.9, 0.999
    params = {k: v.copy() for k, v in PARAMS0.items()}
    v: dict = {}
    h: dict = {}
    m: dict = {}
    out = []
    for i in range(steps):
        grad = grads_of(params)
        for key in params:
            if rule == "sgd":
                params[key] -= lr * grad[key]
            elif rule == "momentum":
                if i == 0:
                    v[key] = np.zeros_like(params[key])
                v[key] = momentum * v[key] - lr * grad[key]
                params[key] += v[key]
            elif rule == "adagrad":
                if i == 0:
                    h[key] = np.full_like(params[key], 1e-4)
                else:
                    h[key] += np.square(grad[key])
                params[key] -= lr * grad[key] / (np.sqrt(h[key]))
            elif rule == "rmsprop":
                if i == 0:
                    h[key] = np.zeros_like(params[key])
                h[key] *= decay_rate
                h[key] += (1 - decay_rate) * np.square(grad[key])
                params[key] -= lr * grad[key] / (np.sqrt(h[key]) + 1e-7)
            elif rule == "adam":
                if i == 0:
                    m[key] = np.zeros_like(params[key])
                    v[key] = np.zeros_like(params[key])
                lr_t = lr * np.sqrt(1.0 - beta2 ** (i + 1)) / (1.0 - beta1 ** (i + 1))
                m[key] += (1 - beta1) * (grad[key] - m[key])
                v[key] += (1 - beta2) * (grad[key] ** 2 - v[key])
                params[key] -= lr_t * m[key] / (np.sqrt(v[key]) + 1e-7)
        out.append({k: w.copy() for k, w in params.items()})
    return out


def keras_loop(cfg: OptimizerConfig, steps: int = STEPS) -> list[dict[str, np.ndarray]]:
    """The same steps through study.engine.optimizers.build_optimizer(cfg) (Keras's optimizer.apply)."""
    from study.engine.backend import keras
    from study.engine.optimizers import build_optimizer

    variables = {k: keras.Variable(v.copy(), dtype="float32", name=k) for k, v in PARAMS0.items()}
    opt = build_optimizer(cfg)
    out = []
    for _ in range(steps):
        grad = grads_of({k: np.asarray(v.numpy()) for k, v in variables.items()})
        opt.apply([keras.ops.convert_to_tensor(grad[k]) for k in variables], list(variables.values()))
        out.append({k: np.asarray(v.numpy()).copy() for k, v in variables.items()})
    return out


COURSE_LR = {"sgd": 0.01, "momentum": 0.3, "adagrad": 0.1, "rmsprop": 0.01, "adam": 0.01}


@pytest.mark.parametrize("rule", list(COURSE_LR))
def test_course_rule_matches_the_notebooks_loop_step_by_step(rule):
    lr = COURSE_LR[rule]
    cfg = OptimizerConfig(name=rule, rule="course", lr=lr, momentum=0.9, rho=0.99, epsilon=1e-7)
    ours, course = keras_loop(cfg), course_loop(rule, lr)
    for t, (a, b) in enumerate(zip(ours, course), start=1):
        for key in PARAMS0:
            np.testing.assert_allclose(a[key], b[key], rtol=2e-6, atol=1e-7, err_msg=f"{rule} step {t} {key}")


def test_course_adagrad_first_step_is_lr_g_over_0_01_and_keras_differs():
    """h₀ = 1e-4 with no gradient added: the first step is lr·g/0.01; Keras's rule moves ~lr instead."""
    lr = 0.1
    course = keras_loop(OptimizerConfig(name="adagrad", rule="course", lr=lr), steps=1)[0]
    keras_rule = keras_loop(OptimizerConfig(name="adagrad", lr=lr), steps=1)[0]
    g = grads_of(PARAMS0)
    np.testing.assert_allclose(course["b1"], PARAMS0["b1"] - lr * g["b1"] / 0.01, rtol=1e-6)
    # Keras (h₀ = 0, sqrt(g² + eps)): a gradient well above sqrt(eps) ≈ 3e-4 moves its weight by ~lr
    big = np.abs(g["W1"]) > 1e-2
    np.testing.assert_allclose(np.abs(keras_rule["W1"] - PARAMS0["W1"])[big], lr, rtol=1e-3)
    assert not np.allclose(course["W1"], keras_rule["W1"])


def test_course_rule_takes_a_schedule_and_clipping():
    """Keras's machinery still applies: clipvalue bounds the gradient, a schedule scales the step."""
    cfg = OptimizerConfig(name="sgd", rule="course", lr=0.1, clipvalue=0.05)
    after = keras_loop(cfg, steps=1)[0]
    g = np.clip(grads_of(PARAMS0)["W1"], -0.05, 0.05)
    np.testing.assert_allclose(after["W1"], PARAMS0["W1"] - 0.1 * g, rtol=1e-6)
    warm = OptimizerConfig.model_validate(
        {"name": "sgd", "rule": "course", "lr": 0.1, "schedule": {"name": "warmup", "warmup_steps": 4}}
    )
    first = keras_loop(warm, steps=1)[0]  # the schedule at iteration counter 0 is 0: no move
    np.testing.assert_array_equal(first["W1"], PARAMS0["W1"])
