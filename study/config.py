"""Study files: the typed schema, YAML loading, `--set` overrides and strict, one-line errors.

A study file has five parts::

    study: vanishing_gradient          # name: the MLflow experiment
    description: ...                   # shown in the report and the MLflow UI
    base: {data: ..., model: ..., optimizer: ..., train: ...}   # every setting; defaults below
    grid: {model.activation: [sigmoid, relu], ...}              # dotted key -> list of values
    exclude: [{model.activation: relu, model.initializer: gauss}]   # optional
    seeds: [0, 1, 2]                   # or a count: `seeds: 3` means [0, 1, 2]
    architectures: {name: [layer, ...]}   # optional named layer stacks for `model.arch`

Every default lives here, once. study/studyfile.py reads a file into these models: an unknown key,
a wrong type or an impossible value raises ConfigError with one line naming the file, the key, the
bad value and the valid choices.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    field_validator,
    model_serializer,
    model_validator,
)

from study.layer_table import check_layer

# Each choice is declared once, as a Literal type; the tuple of its values is read from it.
Activation = Literal["sigmoid", "relu", "tanh", "leaky_relu", "elu", "selu", "gelu", "swish", "softplus", "linear"]
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
OptimizerName = Literal[
    "sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adadelta", "adamax", "nadam", "adamw"
]
# Whose update rules: Keras's optimisers, or the course notebook's own loop (study/engine/course_optimizers.py).
OptimizerRule = Literal["keras", "course"]
COURSE_RULES = ("sgd", "momentum", "adagrad", "rmsprop", "adam")  # the optimisers the course's notebook defines
# The loss a cell minimises; it decides the task (study/task.py): cross-entropy over a softmax is
# classification, the others are regression with a linear output.
LossName = Literal["cross_entropy", "mse", "mae", "mape", "msle"]
DatasetName = Literal["mnist", "fashion_mnist"]
# How a cell's floats are computed (study/engine/numerics.py): `exact` = independent of threads,
# workers and backend; `fast` = every op may split across threads.
NumericsMode = Literal["exact", "fast"]

ACTIVATIONS: tuple[str, ...] = get_args(Activation)
COURSE_INITIALIZERS: tuple[str, ...] = get_args(CourseInitializer)
KERAS_INITIALIZERS: tuple[str, ...] = get_args(KerasInitializer)
INITIALIZERS = COURSE_INITIALIZERS + KERAS_INITIALIZERS
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)
LOSSES: tuple[str, ...] = get_args(LossName)
DATASETS: tuple[str, ...] = get_args(DatasetName)
NUMERICS_MODES: tuple[str, ...] = get_args(NumericsMode)
DEFAULT_NUMERICS: NumericsMode = "exact"

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # a rate in [0, 1)
OpenUnit = Annotated[float, Field(gt=0, lt=1)]  # a decay in (0, 1)


class Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataConfig(Strict):
    name: DatasetName = "mnist"
    dir: str | None = None  # IDX directory; None -> $STUDY_DATA_DIR -> keras.datasets download
    train_size: PositiveInt | None = None  # first N training images (the course slices x[:N]); None = all
    test_size: PositiveInt | None = None


# --- layers, for `model.layers` / named architectures (dense nets can use `model.hidden` instead)


class DenseLayer(Strict):
    type: Literal["dense"]
    units: PositiveInt
    activation: Activation | None = None  # None: linear; add an `activation` layer after


class Conv2DLayer(Strict):
    type: Literal["conv2d"]
    filters: PositiveInt
    kernel: PositiveInt
    stride: PositiveInt = 1
    padding: Annotated[int, Field(ge=0)] = 0  # explicit zero padding in pixels, as the course (not 'same')


class PoolLayer(Strict):
    type: Literal["max_pool", "avg_pool"]
    pool: PositiveInt = 2
    stride: PositiveInt | None = None  # None: equal to `pool`


class FlattenLayer(Strict):
    type: Literal["flatten"]


class DropoutLayer(Strict):
    type: Literal["dropout"]
    rate: Fraction


class BatchNormLayer(Strict):
    type: Literal["batch_norm"]


class ActivationLayer(Strict):
    type: Literal["activation"]
    name: Activation | None = None  # None: the study's `model.activation`


# The study's settings own these arguments of a Keras layer: the engine draws every kernel from
# `model.initializer` at the cell's seed and penalises it by `model.l1` / `model.l2`.
STUDY_OWNED_ARGS = {
    "kernel_initializer": "the study's model.initializer",
    "kernel_regularizer": "the study's model.l1 / model.l2",
    "name": "the engine (stable per-kind names: conv_1, dense_2, …)",
}


class KerasLayer(Strict):
    """Any `keras.layers` layer by its class name, e.g. `{type: Conv2D, filters: 32, kernel_size: 3,
    padding: same}`: every other key is a constructor argument, checked against the layer's real
    signature (study/layer_table.py) without importing Keras."""

    type: str  # the Keras class name (capitalised: the course's own types are lower-case)
    args: dict[str, Any] = {}

    @model_validator(mode="before")
    @classmethod
    def _gather_args(cls, data: Any) -> Any:
        if isinstance(data, dict) and not (set(data) <= {"type", "args"} and isinstance(data.get("args"), dict)):
            data = {"type": data.get("type"), "args": {k: v for k, v in data.items() if k != "type"}}
        return data

    @model_validator(mode="after")
    def _known(self) -> KerasLayer:
        if not self.type[:1].isupper():
            raise ValueError(
                f"unknown layer type {self.type!r} (course types: {', '.join(LAYER_TYPES)}; "
                "or a keras.layers class by name, e.g. Conv2D, GlobalAveragePooling2D)"
            )
        check_layer(self.type, self.args, STUDY_OWNED_ARGS)
        return self

    @model_serializer
    def _flat(self) -> dict[str, Any]:
        """Written back as it is read: `{type: Conv2D, filters: 32, …}`."""
        return {"type": self.type, **self.args}


def layer_kind(data: Any) -> str | None:
    """The union member of a layer entry: a course type by its lower-case name, else a Keras class
    (None when it has no `type`: the error says a layer needs one)."""
    kind = data.get("type") if isinstance(data, dict) else getattr(data, "type", None)
    if not isinstance(kind, str):
        return None
    return kind if kind in LAYER_TYPES else "keras"


Layer = Annotated[
    Annotated[DenseLayer, Tag("dense")]
    | Annotated[Conv2DLayer, Tag("conv2d")]
    | Annotated[PoolLayer, Tag("max_pool")]
    | Annotated[PoolLayer, Tag("avg_pool")]
    | Annotated[FlattenLayer, Tag("flatten")]
    | Annotated[DropoutLayer, Tag("dropout")]
    | Annotated[BatchNormLayer, Tag("batch_norm")]
    | Annotated[ActivationLayer, Tag("activation")]
    | Annotated[KerasLayer, Tag("keras")],
    Discriminator(layer_kind),
]
# The course's own layer types (lower-case); a capitalised `type` names a Keras layer class.
LAYER_TYPES = ("dense", "conv2d", "max_pool", "avg_pool", "flatten", "dropout", "batch_norm", "activation")


class ModelConfig(Strict):
    hidden: list[PositiveInt] = [40, 20]  # dense hidden sizes (the course's 784-40-20-10 net)
    arch: str | None = None  # name of an entry in the study's `architectures`; its stack fills `layers`
    layers: list[Layer] | None = None  # an explicit layer stack; replaces `hidden`
    activation: Activation = "relu"
    initializer: Initializer = "he"
    init_std: PositiveFloat = 0.01  # sigma of `gauss` (the course's weight_init_std)
    batch_norm: Literal["off", "before", "after"] = "off"  # placement relative to the activation
    bn_momentum: OpenUnit = 0.9  # the course's BatchNormalization momentum (Keras default 0.99)
    bn_epsilon: PositiveFloat = 1e-6  # the course's eps (Keras default 1e-3)
    bn_train_affine: bool = True  # False freezes gamma=1, beta=0: the course's loop never updated them
    dropout: Fraction = 0.0  # after every hidden activation of a `hidden` net
    l1: Annotated[float, Field(ge=0)] = 0.0  # adds l1 * sum|W| over every kernel, output layer included
    l2: Annotated[float, Field(ge=0)] = 0.0  # course scale: adds 0.5 * l2 * sum W^2 (= Keras L2(l2 / 2))
    # cross_entropy: softmax output, classification; mse / mae / mape / msle: linear output, regression.
    loss: LossName = "cross_entropy"


# --- learning-rate schedules (`optimizer.schedule`), Keras's keras.optimizers.schedules; `optimizer.lr` is
# the peak rate. The schedule is read at the optimiser's iteration counter: 0 for iteration 1.


class StepSchedule(Strict):
    """`lr × factors[k]` after the first `boundaries[k]` iterations (Keras PiecewiseConstantDecay)."""

    name: Literal["step"]
    boundaries: Annotated[list[PositiveInt], Field(min_length=1)]
    factors: Annotated[list[PositiveFloat], Field(min_length=1)]

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
    decay_steps: PositiveInt
    decay_rate: PositiveFloat
    staircase: bool = False


class CosineSchedule(Strict):
    """Linear warm-up from 0 to `lr` over `warmup_steps`, then cosine decay to `alpha × lr` over
    `decay_steps` (Keras CosineDecay with warmup_target)."""

    name: Literal["cosine"]
    decay_steps: PositiveInt
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0
    warmup_steps: Annotated[int, Field(ge=0)] = 0


class WarmupSchedule(Strict):
    """Linear warm-up from 0 to `lr` over `warmup_steps`, then constant (Keras CosineDecay with alpha 1)."""

    name: Literal["warmup"]
    warmup_steps: PositiveInt


Schedule = Annotated[StepSchedule | ExponentialSchedule | CosineSchedule | WarmupSchedule, Field(discriminator="name")]
SCHEDULES = ("step", "exponential", "cosine", "warmup")


class OptimizerConfig(Strict):
    name: OptimizerName = "sgd"
    # `keras`: Keras's optimisers; `course`: the course notebook's own update rules (AdaGrad's h starts
    # at 1e-4 and divides by sqrt(h); RMSprop by sqrt(h) + epsilon; see docs/optimizers.md).
    rule: OptimizerRule = "keras"
    lr: PositiveFloat = 0.01
    momentum: Fraction = 0.9  # momentum / nesterov
    rho: OpenUnit = 0.99  # RMSprop's and Adadelta's decay rate: the course's 0.99 (Keras default 0.9 / 0.95)
    beta_1: OpenUnit = 0.9  # adam, adamax, nadam, adamw
    beta_2: OpenUnit = 0.999
    epsilon: PositiveFloat = 1e-7  # the course adds 1e-7 to every denominator
    initial_accumulator: Annotated[float, Field(ge=0)] = 0.0  # AdaGrad's h starts at 0 (Keras default 0.1)
    weight_decay: Annotated[float, Field(ge=0)] | None = None  # Keras's decoupled decay; None: AdamW's 0.004, else off
    clipnorm: PositiveFloat | None = None  # clip each gradient to this L2 norm
    clipvalue: PositiveFloat | None = None  # clip each gradient element to [-clipvalue, clipvalue]
    schedule: Schedule | None = None  # a learning-rate schedule; None: constant `lr`

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


class EarlyStopping(Strict):
    """Stop a cell when `metric` (at eval points) has not improved by `min_delta` for `patience` eval points."""

    metric: str = "test_loss"  # an eval-point metric of the cell's task (study/task.py), e.g. test_acc, test_mae
    patience: PositiveInt = 5  # eval points without improvement
    min_delta: Annotated[float, Field(ge=0)] = 0.0


class TrainConfig(Strict):
    iterations: PositiveInt = 2000
    batch_size: PositiveInt = 100
    sampling: Literal["with_replacement", "epoch_shuffle"] = "with_replacement"  # course: np.random.choice
    eval_every: PositiveInt = 10  # iterations between evaluations of the whole test set
    # Training accuracy at eval points: `full` = the whole training subset, `batch` = the current
    # mini-batch (the course's vanishing-gradient notebook), `auto` = full up to 10,000 images.
    eval_train: Literal["auto", "batch", "full"] = "auto"
    # Per-layer gradient / activation statistics (study/engine/diagnostics.py) every this many iterations,
    # rounded up to whole eval periods; 0 = off. 100 costs a few percent of a cell's time.
    diagnostics_every: Annotated[int, Field(ge=0)] = 100
    steps_per_call: PositiveInt | None = None  # engine chunk length; None = auto. Does not change results.
    # `exact`: every op on one thread, results independent of threads, workers and backend;
    # `fast`: ops may split across threads, results may depend on the thread count (study/engine/numerics.py).
    numerics: NumericsMode = DEFAULT_NUMERICS
    # None (the course's protocol): always train `iterations`; else stop early on a metric.
    early_stopping: EarlyStopping | None = None


# Settings added after cells were first tracked: left out of a cell's identity (study/grid.py) while
# at these defaults, so every cell tracked before them keeps its config hash.
LATER_SETTINGS: dict[tuple[str, str], Any] = {
    ("model", "loss"): "cross_entropy",
    ("optimizer", "rule"): "keras",
    ("optimizer", "weight_decay"): None,
    ("optimizer", "clipnorm"): None,
    ("optimizer", "clipvalue"): None,
    ("optimizer", "schedule"): None,
    ("train", "early_stopping"): None,
}


class Settings(Strict):
    """Everything one cell needs: the resolved `base` with the cell's grid values applied."""

    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    optimizer: OptimizerConfig = OptimizerConfig()
    train: TrainConfig = TrainConfig()

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        t = self.train
        if t.eval_every > t.iterations:
            raise ValueError(f"train.eval_every ({t.eval_every}) is larger than train.iterations ({t.iterations})")
        if t.early_stopping is not None:
            from study.task import task_of  # task.py reads this module

            metrics = task_of(self).eval_metrics
            if t.early_stopping.metric not in metrics:
                raise ValueError(
                    f"train.early_stopping.metric: {t.early_stopping.metric!r} is not recorded at eval points "
                    f"of this cell (valid: {', '.join(metrics)})"
                )
        if self.data.train_size is not None and t.batch_size > self.data.train_size:
            raise ValueError(
                f"train.batch_size ({t.batch_size}) is larger than data.train_size ({self.data.train_size})"
            )
        return self


Range = Annotated[list[float], Field(min_length=2, max_length=2)]


class Expectation(Strict):
    """One entry of `expect:` (study/expect.py): cells selected by axis value, a range per metric."""

    cells: dict[str, Any] = {}  # axis (dotted or short name) -> value or label; empty: every cell
    final_test_acc: Range | None = None
    best_test_acc: Range | None = None
    final_train_acc: Range | None = None
    final_test_loss: Range | None = None
    source: str = ""  # where the range comes from (a citation)

    @model_validator(mode="after")
    def _ranges(self) -> Expectation:
        ranges = {
            k: getattr(self, k) for k in ("final_test_acc", "best_test_acc", "final_train_acc", "final_test_loss")
        }
        given = {k: v for k, v in ranges.items() if v is not None}
        if not given:
            raise ValueError(f"an expectation needs a range for at least one of {', '.join(ranges)}")
        for key, (low, high) in given.items():
            if low > high:
                raise ValueError(f"{key}: [{low:g}, {high:g}] is empty: write [low, high]")
        return self


STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class StudyFile(Strict):
    """The study document as written (grid values are checked later, against Settings)."""

    study: str
    description: str = ""
    base: dict[str, Any] = {}
    grid: dict[str, list[Any]]
    exclude: list[dict[str, Any]] = []
    seeds: list[Annotated[int, Field(ge=0)]] | PositiveInt = [0]
    architectures: dict[str, list[Layer]] = {}
    expect: list[Expectation] = []  # expected results, checked after the run (study/expect.py)

    @field_validator("study")
    @classmethod
    def _name(cls, v: str) -> str:
        if not STUDY_NAME.match(v):
            raise ValueError("must be letters, digits, '_', '-' or '.', starting with a letter or digit")
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not v:
            raise ValueError("the grid is empty: give at least one axis, e.g. `model.activation: [sigmoid, relu]`")
        for key, values in v.items():
            if not values:
                raise ValueError(f"axis {key!r} has no values")
        return v

    @property
    def seed_list(self) -> list[int]:
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)


class Study(BaseModel):
    """A loaded, validated study: the document plus where it came from."""

    model_config = ConfigDict(frozen=True)

    spec: StudyFile
    base: Settings
    source: str  # the file path, for error messages and the MLflow tag
    text: str  # the study as YAML, overrides applied (logged as the parent's artifact)

    @property
    def name(self) -> str:
        return self.spec.study
