"""Study files: the typed schema, YAML loading, `--set` overrides and strict, one-line errors.

A study file has five parts::

    study: vanishing_gradient          # name: the MLflow experiment
    description: ...                   # shown in the report and the MLflow UI
    base: {data: ..., model: ..., optimizer: ..., train: ...}   # every setting; defaults below
    grid: {model.activation: [sigmoid, relu], ...}              # dotted key -> list of values
    exclude: [{model.activation: relu, model.initializer: gauss}]   # optional
    seeds: [0, 1, 2]                   # or a count: `seeds: 3` means [0, 1, 2]
    architectures: {name: [layer, ...]}   # optional named layer stacks for `model.arch`

Every default lives here, once. Validation happens at load time: an unknown key, a wrong
type or an impossible value raises ConfigError with one line naming the file, the key, the
bad value and the valid choices.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from study.engine.numerics import DEFAULT_MODE, MODES
from study.errors import ConfigError

ACTIVATIONS = ("sigmoid", "relu", "tanh", "leaky_relu", "elu", "selu", "gelu", "swish", "softplus", "linear")
# The course's own initialisers (exact, untruncated normals) first, then Keras's by name.
COURSE_INITIALIZERS = ("gauss", "xavier", "he")
KERAS_INITIALIZERS = (
    "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "lecun_normal", "lecun_uniform",
    "random_normal", "random_uniform", "truncated_normal", "orthogonal", "variance_scaling", "zeros",
)
INITIALIZERS = COURSE_INITIALIZERS + KERAS_INITIALIZERS
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
DATASETS = ("mnist", "fashion_mnist")

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # a rate in [0, 1)
OpenUnit = Annotated[float, Field(gt=0, lt=1)]  # a decay in (0, 1)


class Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class DataConfig(Strict):
    name: Literal[DATASETS] = "mnist"
    dir: str | None = None  # IDX directory; None -> $STUDY_DATA_DIR -> keras.datasets download
    train_size: PositiveInt | None = None  # first N training images (the course slices x[:N]); None = all
    test_size: PositiveInt | None = None


# --- layers, for `model.layers` / named architectures (dense nets can use `model.hidden` instead)


class DenseLayer(Strict):
    type: Literal["dense"]
    units: PositiveInt
    activation: Literal[ACTIVATIONS] | None = None  # None: linear; add an `activation` layer after


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
    name: Literal[ACTIVATIONS] | None = None  # None: the study's `model.activation`


Layer = Annotated[
    Union[DenseLayer, Conv2DLayer, PoolLayer, FlattenLayer, DropoutLayer, BatchNormLayer, ActivationLayer],
    Field(discriminator="type"),
]
LAYER_TYPES = ("dense", "conv2d", "max_pool", "avg_pool", "flatten", "dropout", "batch_norm", "activation")


class ModelConfig(Strict):
    hidden: list[PositiveInt] = [40, 20]  # dense hidden sizes (the course's 784-40-20-10 net)
    arch: str | None = None  # name of an entry in the study's `architectures`; its stack fills `layers`
    layers: list[Layer] | None = None  # an explicit layer stack; replaces `hidden`
    activation: Literal[ACTIVATIONS] = "relu"
    initializer: Literal[INITIALIZERS] = "he"
    init_std: PositiveFloat = 0.01  # sigma of `gauss` (the course's weight_init_std)
    batch_norm: Literal["off", "before", "after"] = "off"  # placement relative to the activation
    bn_momentum: OpenUnit = 0.9  # the course's BatchNormalization momentum (Keras default 0.99)
    bn_epsilon: PositiveFloat = 1e-6  # the course's eps (Keras default 1e-3)
    bn_train_affine: bool = True  # False freezes gamma=1, beta=0: the course's loop never updated them
    dropout: Fraction = 0.0  # after every hidden activation of a `hidden` net
    l1: Annotated[float, Field(ge=0)] = 0.0  # adds l1 * sum|W| over every kernel, output layer included
    l2: Annotated[float, Field(ge=0)] = 0.0  # course scale: adds 0.5 * l2 * sum W^2 (= Keras L2(l2 / 2))



class OptimizerConfig(Strict):
    name: Literal[OPTIMIZERS] = "sgd"
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
    numerics: Literal[MODES] = DEFAULT_MODE


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
        ranges = {k: getattr(self, k) for k in ("final_test_acc", "best_test_acc", "final_train_acc", "final_test_loss")}
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


# --- loading -------------------------------------------------------------------------------


def load_study(path: str | Path, overrides: list[str] = ()) -> Study:
    """Read, override and validate a study file; raises ConfigError with one line on any problem."""
    path = Path(path)
    doc = read_yaml(path)
    for item in overrides:
        apply_override(doc, item, path)
    return study_from_dict(doc, str(path))


class _Loader(yaml.SafeLoader):
    """SafeLoader that also reads `1e-6` as a float (YAML 1.1 insists on `1.0e-6`)."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)[eE][-+]?\d+$"),
    list("-+0123456789."),
)
# YAML 1.1 also reads on/off/yes/no as booleans, which would turn `batch_norm: off` into False:
# keep only true/false (YAML 1.2's booleans), so `off` stays the string the schema expects.
for _resolvers in _Loader.yaml_implicit_resolvers.values():
    _resolvers[:] = [(tag, rx) for tag, rx in _resolvers if tag != "tag:yaml.org,2002:bool"]
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


def parse_yaml(text: str) -> Any:
    """Safe-load YAML text (no object construction)."""
    return yaml.load(text, Loader=_Loader)


def read_yaml(path: Path) -> dict[str, Any]:
    """Read a study file as a YAML mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the study file ({exc.__class__.__name__}: {exc})") from None
    try:
        doc = parse_yaml(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
        raise ConfigError(f"{path}: not valid YAML{at}: {getattr(exc, 'problem', exc)}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: a study file must be a YAML mapping with keys study, base, grid; got {type(doc).__name__}")
    return doc


DOCUMENT_KEYS = tuple(StudyFile.model_fields)


def apply_override(doc: dict[str, Any], item: str, path: Path | str) -> None:
    """Apply one `--set key=value` (value parsed as YAML) to the study document in place.

    Keys that start with a document key (`grid.…`, `seeds`, `description`, …) address the
    document; any other key is a setting under `base` (e.g. `train.iterations=500`).
    """
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"{path}: --set {item!r}: expected KEY=VALUE, e.g. --set train.iterations=500")
    try:
        value = parse_yaml(raw)
    except yaml.YAMLError:
        value = raw
    head = key.split(".", 1)[0]
    if head in DOCUMENT_KEYS:
        target, parts = doc, key.split(".") if head != "grid" else ["grid", key[len("grid."):]]
    else:
        check_setting_key(key, f"--set {key}", path)
        if key in (doc.get("grid") or {}):
            raise ConfigError(
                f"{path}: --set {key}: {key!r} is a grid axis; to change its values use --set 'grid.{key}=[...]'"
            )
        target, parts = doc.setdefault("base", {}), key.split(".")
        if not isinstance(target, dict):
            raise ConfigError(f"{path}: base: expected a mapping, got {type(target).__name__}")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
        if not isinstance(target, dict):
            raise ConfigError(f"{path}: --set {key}: {part!r} is not a mapping")
    target[parts[-1]] = value


def setting_keys() -> list[str]:
    """Every dotted setting key, e.g. `model.activation`, in schema order."""
    return [f"{section}.{field}" for section, info in Settings.model_fields.items()
            for field in info.annotation.model_fields]


def check_setting_key(key: str, where: str, path: Path | str) -> None:
    """Raise ConfigError unless `key` is a dotted setting key; the message lists the valid ones."""
    if key in setting_keys():
        return
    section = key.split(".", 1)[0]
    if section in Settings.model_fields:
        valid = [k for k in setting_keys() if k.startswith(section + ".")]
    else:
        valid = setting_keys()
    raise ConfigError(f"{path}: {where}: unknown setting {key!r} (valid: {', '.join(valid)})")


def study_from_dict(doc: dict[str, Any], source: str) -> Study:
    """Validate a study document; grid values are validated cell by cell in grid.expand."""
    spec = validated(StudyFile, doc, source, prefix="")
    base_doc = resolve_arch(spec.base, spec, source, "base")
    base = validated(Settings, base_doc, source, prefix="base")
    for key in spec.grid:
        if key not in setting_keys():
            check_bundle_axis(key, spec.grid[key], source)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    return Study(spec=spec, base=base, source=source, text=text)


def check_bundle_axis(key: str, values: list[Any], source: str) -> None:
    """An axis whose key is not a setting is a *bundle* axis: each value maps settings to values."""
    for i, value in enumerate(values):
        if not isinstance(value, dict):
            check_setting_key(key, f"grid.{key}", source)  # raises: the key itself is the mistake
        for sub in value:
            if sub != "label":
                check_setting_key(sub, f"grid.{key}[{i}]", source)


def resolve_arch(settings_doc: dict[str, Any], spec: StudyFile, source: str, where: str) -> dict[str, Any]:
    """Replace `model.arch: NAME` with the named layer stack, keeping `arch` as a label."""
    model = settings_doc.get("model") if isinstance(settings_doc, dict) else None
    if not isinstance(model, dict) or model.get("arch") is None:
        return settings_doc
    name = model["arch"]
    if model.get("layers") is not None:
        raise ConfigError(f"{source}: {where}.model: give either `arch` or `layers`, not both")
    if name not in spec.architectures:
        valid = ", ".join(spec.architectures) or "none defined: add an `architectures:` section"
        raise ConfigError(f"{source}: {where}.model.arch: unknown architecture {name!r} (valid: {valid})")
    out = copy.deepcopy(settings_doc)
    out["model"]["layers"] = [layer.model_dump() for layer in spec.architectures[name]]
    return out


# --- error messages ------------------------------------------------------------------------


def validated(model: type[BaseModel], data: Any, source: str, prefix: str):
    """Validate `data` against `model`, turning the first pydantic error into one clear line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(exc.errors()[0], model, source, prefix)) from None


def describe(err: dict[str, Any], model: type[BaseModel], source: str, prefix: str) -> str:
    """One line: file, dotted key, bad value, and what would be valid."""
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-after", "tagged-union"))]
    # Drop a discriminated union's tag (layers.0.dense.units -> layers.0.units), never a field
    # that merely shares a layer type's name (model.activation, model.dropout).
    loc = [p for i, p in enumerate(loc) if not (p in LAYER_TYPES and i > 0 and loc[i - 1].isdigit())]
    key = ".".join(([prefix] if prefix else []) + loc) or "(top level)"
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        valid = ", ".join(fields_at(model, loc[:-1])) or "none"
        return f"{source}: {key}: unknown key {loc[-1]!r} (valid keys here: {valid})"
    if kind == "missing":
        return f"{source}: {key}: required key is missing"
    if kind == "literal_error":
        return f"{source}: {key}: {value!r} is not valid (valid: {literal_choices(err)})"
    if kind == "union_tag_invalid":
        return f"{source}: {key}: unknown layer type {err['ctx']['tag']!r} (valid: {', '.join(LAYER_TYPES)})"
    if kind == "union_tag_not_found":
        return f"{source}: {key}: a layer needs a `type` (valid: {', '.join(LAYER_TYPES)})"
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "value_error" and not loc:
        return f"{source}: {msg}"
    return f"{source}: {key}: {value!r}: {msg}" if value is not None and not isinstance(value, dict) else f"{source}: {key}: {msg}"


def literal_choices(err: dict[str, Any]) -> str:
    """The valid values of a Literal error, as a comma-separated list."""
    expected = err.get("ctx", {}).get("expected", "")
    return ", ".join(part.strip(" '") for part in re.split(r",| or ", expected) if part.strip(" '"))


def fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """The field names of the (sub)model found by walking `loc` from `model` (list items included)."""
    for part in loc:
        if part.isdigit():
            continue  # an item of a list: its model is the list's element type, found at the list's key
        info = getattr(model, "model_fields", {}).get(part)
        if info is None:
            return []
        sub = submodel(info.annotation)
        if sub is None:
            return []
        model = sub
    return list(getattr(model, "model_fields", {}))


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or the element of a list / optional of one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = submodel(arg)
        if found is not None:
            return found
    return None
