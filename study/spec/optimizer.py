"""The `optimizer:` section: the optimiser, its hyper-parameters and its learning-rate schedule."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, model_validator

from study.spec.strict import Fraction, OpenUnit, PositiveFloat, PositiveInt, Strict

OptimizerName = Literal[
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adadelta", "adamax", "nadam", "adamw"
]
# Whose update rules: Keras's optimisers, or the course notebook's own loop (study/engine/course_optimizers.py).
OptimizerRule = Literal["keras", "course"]
COURSE_RULES = ("sgd", "momentum", "adagrad", "rmsprop", "adam")  # the optimisers the course's notebook defines

OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)

# --- learning-rate schedules (`optimizer.schedule`), Keras's keras.optimizers.schedules; `optimizer.lr` is
# the peak rate. The schedule is read at the optimiser's iteration counter: 0 for iteration 1.


class StepSchedule(Strict):
    """`lr × factors[k]` after the first `boundaries[k]` iterations (Keras PiecewiseConstantDecay)."""

    name: Literal["step"]
    """A piecewise-constant schedule."""
    boundaries: Annotated[list[PositiveInt], Field(min_length=1)]
    """Iterations after which the rate changes, increasing."""
    factors: Annotated[list[PositiveFloat], Field(min_length=1)]
    """Multiplier of `lr` after each boundary (as many as boundaries)."""

    @model_validator(mode="after")
    def _matching(self) -> StepSchedule:
        if len(self.factors) != len(self.boundaries):
            raise ValueError(
                f"step schedule: {len(self.boundaries)} boundaries need as many factors, got {len(self.factors)}"
            )
        if any(b >= c for b, c in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(f"step schedule: boundaries {self.boundaries} must increase")
        return self


class ExponentialSchedule(Strict):
    """`lr × decay_rate^(step / decay_steps)` (Keras ExponentialDecay; `staircase`: whole periods only)."""

    name: Literal["exponential"]
    """An exponential decay."""
    decay_steps: PositiveInt
    """Iterations over which the rate is multiplied by `decay_rate` once."""
    decay_rate: PositiveFloat
    """Multiplier of the rate per `decay_steps` iterations."""
    staircase: bool = False
    """Decay in whole periods only (a step function) instead of smoothly."""


class CosineSchedule(Strict):
    """Linear warm-up from 0 to `lr` over `warmup_steps`, then cosine decay to `alpha × lr` over
    `decay_steps` (Keras CosineDecay with warmup_target)."""

    name: Literal["cosine"]
    """A cosine decay, optionally after a linear warm-up."""
    decay_steps: PositiveInt
    """Iterations of the cosine decay (after the warm-up)."""
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0
    """The final rate as a fraction of `lr`."""
    warmup_steps: Annotated[int, Field(ge=0)] = 0
    """Iterations of the linear warm-up from 0 to `lr`; 0 = none."""


class WarmupSchedule(Strict):
    """Linear warm-up from 0 to `lr` over `warmup_steps`, then constant (Keras CosineDecay with alpha 1)."""

    name: Literal["warmup"]
    """A linear warm-up, then a constant rate."""
    warmup_steps: PositiveInt
    """Iterations of the linear warm-up from 0 to `lr`."""


Schedule = Annotated[StepSchedule | ExponentialSchedule | CosineSchedule | WarmupSchedule, Field(discriminator="name")]
SCHEDULES = ("step", "exponential", "cosine", "warmup")


class OptimizerConfig(Strict):
    name: OptimizerName = "sgd"
    """The optimiser (plain SGD when omitted)."""
    rule: OptimizerRule = "keras"
    """keras: Keras's optimisers; course: the course notebook's own update rules (AdaGrad's h starts at 1e-4 and
    divides by sqrt(h); RMSprop by sqrt(h) + epsilon; see docs/optimizers.md)."""
    lr: PositiveFloat = 0.01
    """Learning rate (the peak rate when a schedule is given)."""
    momentum: Fraction = 0.9
    """Momentum coefficient of `momentum` and `nesterov`."""
    rho: OpenUnit = 0.99
    """RMSprop's and Adadelta's decay rate of the squared-gradient average (the course's 0.99; Keras's
    defaults are 0.9 / 0.95)."""
    beta_1: OpenUnit = 0.9
    """Decay rate of the gradient average of adam, adamax, nadam and adamw."""
    beta_2: OpenUnit = 0.999
    """Decay rate of the squared-gradient average of adam, adamax, nadam and adamw."""
    epsilon: PositiveFloat = 1e-7
    """Added to the adaptive optimisers' denominators (the course's 1e-7)."""
    initial_accumulator: Annotated[float, Field(ge=0)] = 0.0
    """AdaGrad's starting accumulator h with rule keras (Keras's default is 0.1)."""
    weight_decay: Annotated[float, Field(ge=0)] | None = None
    """Keras's decoupled weight decay; unset: AdamW's 0.004, off for the others."""
    clipnorm: PositiveFloat | None = None
    """Clip each gradient to this L2 norm; unset: no clipping."""
    clipvalue: PositiveFloat | None = None
    """Clip each gradient element to [-clipvalue, clipvalue]; unset: no clipping."""
    schedule: Schedule | None = None
    """A learning-rate schedule (step, exponential, cosine, warmup); unset: constant `lr`."""

    @model_validator(mode="after")
    def _rule_known(self) -> OptimizerConfig:
        if self.rule == "course":
            if self.name not in COURSE_RULES:
                raise ValueError(
                    f"optimizer.rule course: the course has no {self.name!r} "
                    f"(course rules: {', '.join(COURSE_RULES)}; use rule: keras)"
                )
            if self.weight_decay:
                raise ValueError("optimizer.rule course has no weight_decay (use model.l2, the course's weight decay)")
        return self
