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
DATASETS: tuple[str, ...] = get_args(DatasetName)
DATA_FORMATS: tuple[str, ...] = get_args(DataFormat)
NUMERICS_MODES: tuple[str, ...] = get_args(NumericsMode)
DEFAULT_NUMERICS: NumericsMode = "exact"

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # a rate in [0, 1)
OpenUnit = Annotated[float, Field(gt=0, lt=1)]  # a decay in (0, 1)


class Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _as_tuple(value: Any) -> Any:
    """A YAML list for a fixed-length setting, as the tuple the schema holds (hashable, like the rest)."""
    return tuple(value) if isinstance(value, list) else value


class HoldoutConfig(Strict):
    """Samples held out of the training data: the first/last `size`, or a seeded random `fraction`."""

    size: PositiveInt | None = None  # this many samples, taken from the `take` end
    take: Literal["first", "last"] = "last"
    fraction: OpenUnit | None = None  # this share of the samples, drawn at random with `seed`
    seed: Annotated[int, Field(ge=0)] = 0

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
    name: str = "mnist"  # a keras.datasets name (DATASETS); with `format`, a free name (default: the file's stem)
    dir: str | None = None  # directory of a named dataset; None -> $STUDY_DATA_DIR (MNIST family) -> keras
    train_size: PositiveInt | None = None  # first N training samples (the course slices x[:N]); None = all
    test_size: PositiveInt | None = None
    format: DataFormat | None = None  # your own file: npz, csv or a directory of images in class folders
    path: str | None = None  # the file (npz, csv) or directory (images) holding the training data
    test_path: str | None = None  # csv / images: a second file or directory holding the test data
    test_split: HoldoutConfig | None = None  # csv / images / npz: hold the test set out of `path` instead
    validation: HoldoutConfig | None = None  # hold a validation set out of the training data
    arrays: Annotated[tuple[str, str, str, str], BeforeValidator(_as_tuple)] = (
        "x_train",
        "y_train",
        "x_test",
        "y_test",
    )
    label_column: str = "label"  # csv: the target column; every other column is a numeric feature
    targets: Targets = "classes"
    image_size: Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(_as_tuple)] = (
        64,
        64,
    )  # images: [height, width]
    color_mode: ColorMode = "rgb"  # images: 1, 3 or 4 channels

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
