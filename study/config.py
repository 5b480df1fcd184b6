"""Study files: the typed schema, YAML loading, `--set` overrides and strict, one-line errors.

A study file has five parts::

    study: vanishing_gradient          # name: the MLflow experiment
    description: ...                   # shown in the report and the MLflow UI
    base: {data: ..., model: ..., optimizer: ..., train: ...}   # every setting; defaults below
    grid: {model.activation: [sigmoid, relu], ...}              # dotted key -> list of values
    search: {params: {optimizer.lr: {loguniform: [1e-4, 0.1]}}, trials: 30}   # or: sampled trials
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
    Field,
    field_validator,
    model_validator,
)

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
OptimizerName = Literal["sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam"]
DatasetName = Literal["mnist", "fashion_mnist"]
# How a cell's floats are computed (study/engine/numerics.py): `exact` = independent of threads,
# workers and backend; `fast` = every op may split across threads.
NumericsMode = Literal["exact", "fast"]

ACTIVATIONS: tuple[str, ...] = get_args(Activation)
COURSE_INITIALIZERS: tuple[str, ...] = get_args(CourseInitializer)
KERAS_INITIALIZERS: tuple[str, ...] = get_args(KerasInitializer)
INITIALIZERS = COURSE_INITIALIZERS + KERAS_INITIALIZERS
OPTIMIZERS: tuple[str, ...] = get_args(OptimizerName)
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


Layer = Annotated[
    DenseLayer | Conv2DLayer | PoolLayer | FlattenLayer | DropoutLayer | BatchNormLayer | ActivationLayer,
    Field(discriminator="type"),
]
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


class OptimizerConfig(Strict):
    name: OptimizerName = "sgd"
    lr: PositiveFloat = 0.01
    momentum: Fraction = 0.9  # momentum / nesterov
    rho: OpenUnit = 0.99  # RMSprop decay rate: the course's 0.99 (Keras default 0.9)
    beta_1: OpenUnit = 0.9
    beta_2: OpenUnit = 0.999
    epsilon: PositiveFloat = 1e-7  # the course adds 1e-7 to every denominator
    initial_accumulator: Annotated[float, Field(ge=0)] = 0.0  # AdaGrad's h starts at 0 (Keras default 0.1)


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


# --- search: sampled trials instead of the full grid (study/search.py reads `params`) -----------

SamplerName = Literal["tpe", "random", "grid"]  # grid: every combination, exactly as a `grid:` section
PrunerName = Literal["none", "median", "successive_halving"]
# What a trial is scored by: a cell's summary metric (study/store/contract.py Metric), averaged over seeds.
ObjectiveMetric = Literal["best_test_acc", "final_test_acc", "final_train_acc", "final_test_loss"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
PRUNERS: tuple[str, ...] = get_args(PrunerName)
OBJECTIVE_METRICS: tuple[str, ...] = get_args(ObjectiveMetric)
LOWER_IS_BETTER = ("_loss", "_mae", "_mse")  # metric suffixes a search minimizes
DISTRIBUTION_KINDS = ("choice", "uniform", "loguniform", "int")  # `{kind: ...}` per dotted key


class SearchConfig(Strict):
    """`search:` -- a budget of trials sampled from distributions per dotted key, scored by one metric."""

    # dotted key -> {choice: [...]} | {uniform: [lo, hi]} | {loguniform: [lo, hi]} | {int: [lo, hi]}
    params: dict[str, Any]
    sampler: SamplerName = "tpe"
    trials: PositiveInt | None = None  # the budget; required unless sampler is grid
    seed: Annotated[int, Field(ge=0)] = 0  # the sampler's seed: the same search samples the same trials
    metric: ObjectiveMetric = "best_test_acc"
    direction: Literal["maximize", "minimize"] | None = None  # None: minimize a *_loss, maximize the rest
    pruner: PrunerName = "none"  # stop a hopeless trial at an eval point (its first seed's curve)
    startup_trials: Annotated[int, Field(ge=0)] = 5  # trials run to the end before the median pruner may stop one
    warmup_iterations: Annotated[int, Field(ge=0)] = 0  # iterations of a trial before it may be stopped

    @model_validator(mode="after")
    def _consistent(self) -> SearchConfig:
        if not self.params:
            raise ValueError(
                "params: the search space is empty: give at least one, e.g. `optimizer.lr: {loguniform: [1e-4, 0.1]}`"
            )
        if self.trials is None and self.sampler != "grid":
            raise ValueError(f"trials: required with sampler {self.sampler}: how many trials to run, e.g. `trials: 30`")
        if self.direction is not None and self.direction != self.default_direction:
            raise ValueError(
                f"direction: {self.direction} {self.metric} would look for the worst trial "
                f"(valid: {self.default_direction})"
            )
        return self

    @property
    def default_direction(self) -> str:
        return "minimize" if self.metric.endswith(LOWER_IS_BETTER) else "maximize"

    @property
    def goal(self) -> str:
        """The direction the search optimises in: as given, else from the metric."""
        return self.direction or self.default_direction


STUDY_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class StudyFile(Strict):
    """The study document as written (grid values are checked later, against Settings)."""

    study: str
    description: str = ""
    base: dict[str, Any] = {}
    grid: dict[str, list[Any]] = {}  # the full grid; or `search:` (one of the two)
    search: SearchConfig | None = None  # sampled trials instead of the full grid (study/search.py)
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

    @model_validator(mode="after")
    def _grid_or_search(self) -> StudyFile:
        if self.search is None and not self.grid:
            raise ValueError("a study needs a `grid:` (the full grid) or a `search:` (sampled trials) section")
        if self.search is not None and self.grid:
            raise ValueError("give either `grid:` or `search:`, not both")
        if self.search is not None and self.search.sampler != "grid":
            for key in ("exclude", "expect"):
                if getattr(self, key):
                    raise ValueError(
                        f"{key}: applies to a grid; a `search:` with sampler {self.search.sampler} samples its "
                        "trials (narrow the distributions instead, or use sampler: grid)"
                    )
        return self

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
