"""The Keras optimizer of a cell's optimizer settings: Keras's rules or the course's, clipping, a schedule.

`optimizer.rule: keras` (the default) builds Keras's own optimisers with the course's hyperparameters;
`optimizer.rule: course` the course notebook's update rules. Either takes `clipnorm` / `clipvalue` and a
learning-rate schedule whose peak is `optimizer.lr`."""

from __future__ import annotations

from study.engine.backend import keras
from study.engine.course_optimizers import CourseOptimizer
from study.spec.optimizer import CosineSchedule, ExponentialSchedule, OptimizerConfig, StepSchedule, WarmupSchedule

ADAMW_WEIGHT_DECAY = 0.004  # Keras's AdamW default, used when `optimizer.weight_decay` is not set


def build_optimizer(cfg: OptimizerConfig) -> keras.optimizers.Optimizer:
    """The optimizer for `optimizer.name` under `optimizer.rule`, with its schedule and clipping."""
    lr = learning_rate(cfg)
    common = {"clipnorm": cfg.clipnorm, "clipvalue": cfg.clipvalue}
    if cfg.rule == "course":
        return CourseOptimizer(
            cfg.name,
            lr,
            momentum=cfg.momentum,
            rho=cfg.rho,
            beta_1=cfg.beta_1,
            beta_2=cfg.beta_2,
            epsilon=cfg.epsilon,
            clipnorm=cfg.clipnorm,
            clipvalue=cfg.clipvalue,
        )
    if cfg.name == "adamw":
        decay = ADAMW_WEIGHT_DECAY if cfg.weight_decay is None else cfg.weight_decay
        return keras.optimizers.AdamW(
            lr, weight_decay=decay, beta_1=cfg.beta_1, beta_2=cfg.beta_2, epsilon=cfg.epsilon, **common
        )
    common["weight_decay"] = cfg.weight_decay or None
    return keras_optimizer(cfg, lr, common)


def keras_optimizer(cfg: OptimizerConfig, lr, common: dict) -> keras.optimizers.Optimizer:
    """Keras's optimiser of that name with the settings' hyperparameters."""
    betas = {"beta_1": cfg.beta_1, "beta_2": cfg.beta_2, "epsilon": cfg.epsilon}
    if cfg.name == "sgd":
        return keras.optimizers.SGD(lr, **common)
    if cfg.name in ("momentum", "nesterov"):
        return keras.optimizers.SGD(lr, momentum=cfg.momentum, nesterov=cfg.name == "nesterov", **common)
    if cfg.name == "adagrad":
        return keras.optimizers.Adagrad(
            lr, initial_accumulator_value=cfg.initial_accumulator, epsilon=cfg.epsilon, **common
        )
    if cfg.name == "rmsprop":
        return keras.optimizers.RMSprop(lr, rho=cfg.rho, epsilon=cfg.epsilon, **common)
    if cfg.name == "adadelta":
        return keras.optimizers.Adadelta(lr, rho=cfg.rho, epsilon=cfg.epsilon, **common)
    if cfg.name == "adam":
        return keras.optimizers.Adam(lr, **betas, **common)
    if cfg.name == "adamax":
        return keras.optimizers.Adamax(lr, **betas, **common)
    if cfg.name == "nadam":
        return keras.optimizers.Nadam(lr, **betas, **common)
    raise ValueError(f"unknown optimizer {cfg.name!r}")


def learning_rate(cfg: OptimizerConfig):
    """`optimizer.lr`, or the Keras schedule `optimizer.schedule` peaking at it."""
    s, lr, schedules = cfg.schedule, cfg.lr, keras.optimizers.schedules
    if s is None:
        return lr
    if isinstance(s, StepSchedule):
        # Keras compares its counter (iteration − 1) with `> boundary`: shift so a factor starts after b iterations
        return schedules.PiecewiseConstantDecay([b - 1 for b in s.boundaries], [lr] + [lr * f for f in s.factors])
    if isinstance(s, ExponentialSchedule):
        return schedules.ExponentialDecay(lr, s.decay_steps, s.decay_rate, staircase=s.staircase)
    if isinstance(s, CosineSchedule):
        if s.warmup_steps == 0:
            return schedules.CosineDecay(lr, s.decay_steps, alpha=s.alpha)
        return schedules.CosineDecay(0.0, s.decay_steps, alpha=s.alpha, warmup_target=lr, warmup_steps=s.warmup_steps)
    if isinstance(s, WarmupSchedule):
        return schedules.CosineDecay(0.0, 1, alpha=1.0, warmup_target=lr, warmup_steps=s.warmup_steps)
    raise ValueError(f"unknown schedule {s!r}")
