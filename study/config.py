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
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    BeforeValidator,
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
# The keras.datasets ones study reads by name (study/data/); user files are read by `data.format`.
DatasetName = Literal["mnist", "fashion_mnist", "cifar10", "cifar100"]
DataFormat = Literal["npz", "csv", "images"]
Targets = Literal["classes", "real"]  # class integers 0..K-1, or real values (regression)
ColorMode = Literal["grayscale", "rgb", "rgba"]
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
DATA_FORMATS: tuple[str, ...] = get_args(DataFormat)
NUMERICS_MODES: tuple[str, ...] = get_args(NumericsMode)
DEFAULT_NUMERICS: NumericsMode = "exact"
# Which cells keep their trained model in the store (study/store/models.py): every cell, the best
# cell of each `study run` (highest final_test_acc), or none.
KeepModel = Literal["all", "best", "none"]
KEEP_MODELS: tuple[str, ...] = get_args(KeepModel)

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # a rate in [0, 1)
OpenUnit = Annotated[float, Field(gt=0, lt=1)]  # a decay in (0, 1)


class Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are errors."""

    # A field's docstring is its one-line meaning (`study settings`, docs/settings.md, `study schema`).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


def _as_tuple(value: Any) -> Any:
    """A YAML list for a fixed-length setting, as the tuple the schema holds (hashable, like the rest)."""
    return tuple(value) if isinstance(value, list) else value


class HoldoutConfig(Strict):
    """Samples held out of the training data: the first/last `size`, or a seeded random `fraction`."""

    size: PositiveInt | None = None
    """Hold out this many samples, taken from the `take` end."""
    take: Literal["first", "last"] = "last"
    """Which end `size` takes its samples from."""
    fraction: OpenUnit | None = None
    """Hold out this share of the samples, drawn at random with `seed`."""
    seed: Annotated[int, Field(ge=0)] = 0
    """The seed of the `fraction` draw."""

    @model_validator(mode="after")
    def _one_way(self) -> HoldoutConfig:
        if (self.size is None) == (self.fraction is None):
            raise ValueError("give exactly one of `size` (with `take`: first | last) or `fraction` (with `seed`)")
        if self.size is not None and self.seed != 0:
            raise ValueError("`seed` goes with `fraction`; `size` takes the first or last samples (`take`)")
        if self.fraction is not None and self.take != "last":
            raise ValueError("`take` goes with `size`; a `fraction` is drawn at random (`seed`)")
        return self


# DataConfig fields added after the first release: left out of a cell's identity while at their
# default, so the cells of existing studies keep their config hashes (study/grid.py).
DATA_FIELDS_V1 = ("name", "dir", "train_size", "test_size")
# Settings that only one or two formats read.
FORMAT_SETTINGS = {
    "arrays": ("npz",),
    "label_column": ("csv",),
    "image_size": ("images",),
    "color_mode": ("images",),
}


class DataConfig(Strict):
    name: str = "mnist"
    """A keras.datasets name (mnist, fashion_mnist, cifar10, cifar100); with `format`, a free name
    (default: the file's stem)."""
    dir: str | None = None
    """Directory of a named dataset's files; unset: $STUDY_DATA_DIR (MNIST family), else a keras.datasets
    download."""
    train_size: PositiveInt | None = None
    """Train on the first N training samples (the course slices x[:N]); unset: all of them."""
    test_size: PositiveInt | None = None
    """Evaluate on the first N test samples; unset: all of them."""
    format: DataFormat | None = None
    """Your own data: an npz file, a csv table or a directory of images in class folders."""
    path: str | None = None
    """The file (npz, csv) or directory (images) holding the training data."""
    test_path: str | None = None
    """csv / images: a second file or directory holding the test data."""
    test_split: HoldoutConfig | None = None
    """csv / images / npz: hold the test set out of `path` instead."""
    validation: HoldoutConfig | None = None
    """Hold a validation set out of the training data (its metrics: val_*)."""
    arrays: Annotated[tuple[str, str, str, str], BeforeValidator(_as_tuple)] = (
        "x_train",
        "y_train",
        "x_test",
        "y_test",
    )
    """npz: the names of the four arrays, in the order x_train, y_train, x_test, y_test."""
    label_column: str = "label"
    """csv: the target column; every other column is a numeric feature."""
    targets: Targets = "classes"
    """Labels as class integers 0..K-1 (classes) or real values (real, for regression)."""
    image_size: Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(_as_tuple)] = (
        64,
        64,
    )
    """images: every image is resized to [height, width]."""
    color_mode: ColorMode = "rgb"
    """images: 1, 3 or 4 channels."""

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, doc: Any) -> Any:
        """A user file's dataset is named after the file unless `name` says otherwise."""
        if isinstance(doc, dict) and doc.get("format") and "name" not in doc and isinstance(doc.get("path"), str):
            stem = PurePosixPath(doc["path"].rstrip("/")).name.split(".", 1)[0]
            return {**doc, "name": stem or str(doc["format"])}
        return doc

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        valid = ", ".join(DATASETS)
        if self.format is None:
            if self.name not in DATASETS:
                raise ValueError(
                    f"name {self.name!r} is not a dataset study knows (valid: {valid}); "
                    f"for your own file set data.format ({', '.join(DATA_FORMATS)}) and data.path"
                )
            for key in ("path", "test_path", "test_split"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} is for your own files: set data.format too, or use data.dir with {valid}")
            if self.targets != "classes":
                raise ValueError(f"targets: {self.name} has class labels (valid here: classes)")
        self._format_settings_match()
        if self.format is None:
            return self
        if self.path is None:
            raise ValueError(f"format {self.format} needs data.path (the file or directory to read)")
        if self.dir is not None:
            raise ValueError("dir is for the named datasets; your own files go in data.path (and data.test_path)")
        if self.test_path is not None and self.test_split is not None:
            raise ValueError("give data.test_path or data.test_split, not both")
        if self.format != "npz" and self.test_path is None and self.test_split is None:
            raise ValueError(
                f"format {self.format}: say where the test set is: data.test_path (a second "
                f"{'file' if self.format == 'csv' else 'directory'}) or data.test_split (e.g. {{fraction: 0.2}})"
            )
        if self.format == "npz" and self.test_path is not None:
            raise ValueError("format npz: the test arrays are in data.path (see data.arrays), or use data.test_split")
        if len(set(self.arrays)) != 4:
            raise ValueError(
                f"arrays: {list(self.arrays)} must name four different arrays (x_train, y_train, x_test, y_test)"
            )
        if self.format == "images" and self.targets != "classes":
            raise ValueError("targets: a directory of images has class labels, one per folder (valid here: classes)")
        return self

    def _format_settings_match(self) -> None:
        """A setting of one format, changed from its default, needs that format: no silently ignored keys."""
        defaults = DataConfig.model_fields
        for key, formats in FORMAT_SETTINGS.items():
            if self.format not in formats and getattr(self, key) != defaults[key].default:
                needs = " or ".join(f"data.format: {f}" for f in formats)
                raise ValueError(f"{key} is read only with {needs} (this data is {self.format or self.name})")

    def identity(self) -> dict[str, Any]:
        """The data section of a cell's identity: fields added after the first release only when not at
        their default (the grid then leaves out the locations: dir, path, test_path)."""
        doc, defaults = self.model_dump(mode="json"), DataConfig().model_dump(mode="json")
        for key in DataConfig.model_fields:
            if key not in DATA_FIELDS_V1 and doc[key] == defaults[key]:
                doc.pop(key)
        return doc


# --- layers, for `model.layers` / named architectures (dense nets can use `model.hidden` instead)


class DenseLayer(Strict):
    type: Literal["dense"]
    """A fully connected layer."""
    units: PositiveInt
    """Number of output units."""
    activation: Activation | None = None
    """Activation applied inside the layer; unset: linear (add an `activation` layer after)."""


class Conv2DLayer(Strict):
    type: Literal["conv2d"]
    """A 2-D convolution."""
    filters: PositiveInt
    """Number of filters (output channels)."""
    kernel: PositiveInt
    """Side of the square kernel, in pixels."""
    stride: PositiveInt = 1
    """Step between kernel positions, in pixels."""
    padding: Annotated[int, Field(ge=0)] = 0
    """Explicit zero padding on each side, in pixels, as the course does (not 'same')."""


class PoolLayer(Strict):
    type: Literal["max_pool", "avg_pool"]
    """Max or average pooling."""
    pool: PositiveInt = 2
    """Side of the square pooling window, in pixels."""
    stride: PositiveInt | None = None
    """Step between windows; unset: equal to `pool`."""


class FlattenLayer(Strict):
    type: Literal["flatten"]
    """Flattens the feature maps into one vector."""


class DropoutLayer(Strict):
    type: Literal["dropout"]
    """Drops units at random while training."""
    rate: Fraction
    """Fraction of units dropped."""


class BatchNormLayer(Strict):
    type: Literal["batch_norm"]
    """Batch normalisation, with the study's `model.bn_*` settings."""


class ActivationLayer(Strict):
    type: Literal["activation"]
    """An activation function as its own layer."""
    name: Activation | None = None
    """The activation; unset: the study's `model.activation`."""


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

    type: str
    """The Keras class name (capitalised: the course's own types are lower-case)."""
    args: dict[str, Any] = {}
    """The layer's constructor arguments (written beside `type`, or under `args`)."""

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
    loss: LossName = "cross_entropy"
    """cross_entropy: softmax output, classification; mse / mae / mape / msle: linear output, regression."""


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


class EarlyStopping(Strict):
    """Stop a cell when `metric` (at eval points) has not improved by `min_delta` for `patience` eval points."""

    metric: str = "test_loss"
    """An eval-point metric of the cell's task (study/task.py), e.g. test_acc, test_mae."""
    patience: PositiveInt = 5
    """Eval points without improvement before the cell stops."""
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    """The smallest change that counts as an improvement."""


class TrainConfig(Strict):
    iterations: PositiveInt = 2000
    """Number of training steps (mini-batches)."""
    batch_size: PositiveInt = 100
    """Images per mini-batch."""
    sampling: Literal["with_replacement", "epoch_shuffle"] = "with_replacement"
    """How batches are drawn: at random with replacement (the course's np.random.choice) or shuffled epochs."""
    eval_every: PositiveInt = 10
    """Iterations between evaluations on the whole test set (the points of the learning curves)."""
    eval_train: Literal["auto", "batch", "full"] = "auto"
    """Training accuracy at eval points: the whole training subset (full), the current mini-batch (batch, as
    the course's vanishing-gradient notebook) or auto = full up to 10,000 images."""
    diagnostics_every: Annotated[int, Field(ge=0)] = 100
    """Per-layer gradient / activation statistics every N iterations, rounded up to whole eval periods;
    0 = off. 100 costs a few percent of a cell's time (docs/diagnostics.md)."""
    steps_per_call: PositiveInt | None = None
    """Steps the engine runs per call; unset: chosen automatically. Does not change results."""
    numerics: NumericsMode = DEFAULT_NUMERICS
    """exact: every op on one thread, results independent of threads, workers and backend; fast: ops may
    split across threads and results may depend on the thread count (docs/reproducibility.md)."""
    early_stopping: EarlyStopping | None = None
    """Stop a cell early on a metric; unset (the course's protocol): always train `iterations`."""


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
    """Which data a cell trains, validates and is tested on (docs/datasets.md)."""
    model: ModelConfig = ModelConfig()
    """The network: layers, activation, initialiser, batch norm, regularisation."""
    optimizer: OptimizerConfig = OptimizerConfig()
    """The optimiser and its hyper-parameters."""
    train: TrainConfig = TrainConfig()
    """The training loop: iterations, batches, evaluation, diagnostics, numerics."""

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


class TrackingConfig(Strict):
    """What a study records besides its numbers (never part of a cell's identity: `tracking:` is a
    document key, not a setting, so changing it changes no config hash)."""

    keep_model: KeepModel = "best"
    """Which cells keep their trained model: all, the study's best, or none (docs/store-layout.md)."""
    system_metrics: bool = True
    """MLflow's CPU / memory / disk / network monitor on every cell run."""
    system_metrics_interval: PositiveFloat = 10.0
    """Seconds between the monitor's samples; each cell also logs one sample covering its whole run."""


Range = Annotated[list[float], Field(min_length=2, max_length=2)]


class Expectation(Strict):
    """One entry of `expect:` (study/expect.py): cells selected by axis value, a range per metric."""

    cells: dict[str, Any] = {}
    """Which cells: axis (dotted or short name) -> value or label; empty: every cell."""
    final_test_acc: Range | None = None
    """[low, high] of the final test accuracy."""
    best_test_acc: Range | None = None
    """[low, high] of the best test accuracy over the run."""
    final_train_acc: Range | None = None
    """[low, high] of the final training accuracy."""
    final_test_loss: Range | None = None
    """[low, high] of the final test loss."""
    source: str = ""
    """Where the range comes from (a citation)."""

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
    """The study's name: its MLflow experiment and its reports/ folder."""
    description: str = ""
    """What the study compares; shown in the report and the MLflow UI."""
    base: dict[str, Any] = {}
    """The settings every cell shares (see the settings below); omitted ones take their defaults."""
    grid: dict[str, list[Any]]
    """Axes: dotted setting key -> list of values; the cells are the cartesian product."""
    exclude: list[dict[str, Any]] = []
    """Combinations to drop from the grid: each a mapping axis -> value."""
    seeds: list[Annotated[int, Field(ge=0)]] | PositiveInt = [0]
    """Replicates of every cell: a list of seeds, or a count N meaning seeds 0..N-1."""
    architectures: dict[str, list[Layer]] = {}
    """Named layer stacks, used by `model.arch`."""
    expect: list[Expectation] = []
    """Expected result ranges, checked after the run (study/expect.py)."""
    tracking: TrackingConfig = TrackingConfig()
    """What each cell run records beyond params and metrics: its model, system metrics."""

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
