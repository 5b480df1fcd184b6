"""The Keras optimizer of a cell's optimizer settings, with the course's hyperparameters expressible."""

from __future__ import annotations

from study.config import OptimizerConfig
from study.engine.backend import keras


def build_optimizer(cfg: OptimizerConfig) -> keras.optimizers.Optimizer:
    """The Keras optimizer for `optimizer.name`, with the course's hyperparameters expressible."""
    if cfg.name == "sgd":
        return keras.optimizers.SGD(cfg.lr)
    if cfg.name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(cfg.lr, momentum=cfg.momentum, nesterov=cfg.name == "nesterov")
    if cfg.name == "adagrad":
        return keras.optimizers.Adagrad(cfg.lr, initial_accumulator_value=cfg.initial_accumulator, epsilon=cfg.epsilon)
    if cfg.name == "rmsprop":
        return keras.optimizers.RMSprop(cfg.lr, rho=cfg.rho, epsilon=cfg.epsilon)
    if cfg.name == "adam":
        return keras.optimizers.Adam(cfg.lr, beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon)
    raise ValueError(f"unknown optimizer {cfg.name!r}")
