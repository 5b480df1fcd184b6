"""The `model:` section: the network's layers, activation, initialiser, batch norm, penalties and loss."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, field_validator, model_validator

from study.spec.builder import REF_FORM, BuilderError, is_reference, parse
from study.spec.layers import Activation, Layer
from study.spec.strict import Fraction, OpenUnit, PositiveFloat, PositiveInt, Strict
from study.spec.task import TASK_KINDS, TaskKind, builtin_task_kind

# The course's own initialisers (exact, untruncated normals) first, then Keras's by name.
CourseInitializer = Literal["gauss", "xavier", "he"]
KerasInitializer = Literal[
    "glorot_normal",
    "glorot_uniform",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "orthogonal",
    "variance_scaling",
    "zeros",
]
Initializer = Literal[CourseInitializer, KerasInitializer]

# The study's own losses; each decides the task (study/spec/task.py): cross-entropy over a softmax is
# classification, the others are regression with a linear output. Your own loss is a reference instead.
LossName = Literal["cross_entropy", "mse", "mae", "mape", "msle"]

COURSE_INITIALIZERS: tuple[str, ...] = get_args(CourseInitializer)
KERAS_INITIALIZERS: tuple[str, ...] = get_args(KerasInitializer)
INITIALIZERS = COURSE_INITIALIZERS + KERAS_INITIALIZERS

LOSSES: tuple[str, ...] = get_args(LossName)


class ModelConfig(Strict):
    hidden: list[PositiveInt] = [40, 20]
    """Sizes of the dense hidden layers (the course's 784-40-20-10 net); as a grid axis, a list of lists."""
    arch: str | None = None
    """Name of an entry in the study's `architectures`; its layer stack fills `layers`."""
    layers: list[Layer] | None = None
    """An explicit layer stack (see the layer settings); replaces `hidden`."""
    activation: Activation = "relu"
    """Activation of every hidden layer."""
    initializer: Initializer = "he"
    """Weight initialiser of every layer: the course's gauss / xavier / he (exact normals) or a Keras one."""
    init_std: PositiveFloat = 0.01
    """Standard deviation of the `gauss` initialiser (the course's weight_init_std); unused by the others."""
    batch_norm: Literal["off", "before", "after"] = "off"
    """Batch normalisation in every hidden layer: off, or placed before / after the activation."""
    bn_momentum: OpenUnit = 0.9
    """Momentum of the batch-norm moving averages (the course's 0.9; Keras's default is 0.99)."""
    bn_epsilon: PositiveFloat = 1e-6
    """Batch norm's epsilon (the course's 1e-6; Keras's default is 1e-3)."""
    bn_train_affine: bool = True
    """Train batch norm's gamma and beta; false freezes gamma=1, beta=0 as the course's loop did."""
    dropout: Fraction = 0.0
    """Dropout rate after every hidden activation of a `hidden` net; 0 = none."""
    l1: Annotated[float, Field(ge=0)] = 0.0
    """L1 penalty: adds l1 * sum|W| over every kernel, the output layer's included."""
    l2: Annotated[float, Field(ge=0)] = 0.0
    """L2 penalty at the course's scale: adds 0.5 * l2 * sum W^2 (= Keras L2(l2 / 2))."""
    loss: LossName | str = "cross_entropy"
    """cross_entropy: softmax output, classification; mse / mae / mape / msle: linear output, regression; or
    your own `module:function` / `path/losses.py:function` returning per-example losses (set model.task)."""
    task: TaskKind | None = None
    """The task of your own model.loss: classification (softmax output, class labels, acc) or regression
    (linear output, mae); unset with the study's losses, which decide it."""
    builder: str | None = None
    """Your own model: `package.module:function` or `path/to/models.py:function` (relative to the study
    file), called as `function(args, input_shape, outputs)`; it returns a keras.Model and replaces the
    stack settings above (docs/own_models.md)."""
    args: dict[str, Any] = {}
    """The builder's own arguments, any keys (passed as `args`); a grid varies one as `model.args.<key>`."""

    @field_validator("builder")
    @classmethod
    def _builder(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse(v)
            except BuilderError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_validator("loss")
    @classmethod
    def _loss(cls, v: str) -> str:
        if v in LOSSES:
            return v
        if not is_reference(v):
            raise ValueError(f"{v!r} is not a loss (valid: {', '.join(LOSSES)}, or your own {REF_FORM})")
        try:
            parse(v)
        except BuilderError as exc:
            raise ValueError(f"{v!r}: {exc}") from None
        return v

    @model_validator(mode="after")
    def _task_of_loss(self) -> ModelConfig:
        builtin = builtin_task_kind(self.loss)
        if builtin is None and self.task is None:
            raise ValueError(
                f"model.task: your own model.loss {self.loss!r} needs model.task (valid: {', '.join(TASK_KINDS)})"
            )
        if builtin is not None and self.task not in (None, builtin):
            raise ValueError(
                f"model.task: {self.task} contradicts model.loss {self.loss}, a {builtin} loss; model.task is for "
                "your own loss: remove it"
            )
        return self

    @model_validator(mode="after")
    def _one_net(self) -> ModelConfig:
        if self.builder is not None and self.layers is not None:
            stack = f"architecture {self.arch!r}" if self.arch else "model.layers"
            raise ValueError(f"give either model.builder or a layer stack ({stack}), not both")
        return self
