"""Study files: the typed schema, one module per section, every name importable from here.

A study file has five parts::

    study: vanishing_gradient          # name: the MLflow experiment
    description: ...                   # shown in the report and the MLflow UI
    base: {data: ..., model: ..., optimizer: ..., train: ...}   # every setting; defaults below
    grid: {model.activation: [sigmoid, relu], ...}              # dotted key -> list of values
    search: {params: {optimizer.lr: {loguniform: [1e-4, 0.1]}}, trials: 30}   # or: sampled trials
    exclude: [{model.activation: relu, model.initializer: gauss}]   # optional
    seeds: [0, 1, 2]                   # or a count: `seeds: 3` means [0, 1, 2]
    architectures: {name: [layer, ...]}   # optional named layer stacks for `model.arch`

Every default lives in this package, once: `data.py`, `layers.py` and `model.py`, `optimizer.py`
(with the learning-rate schedules), `train.py`, `settings.py` (the four sections together),
`tracking.py`, `expect.py`, `search.py` and `document.py` (the whole file, `StudyFile`, and a loaded
`Study`); `strict.py` is their shared base. study/spec/studyfile.py reads a file into these models: an
unknown key, a wrong type or an impossible value raises ConfigError with one line naming the file,
the key, the bad value and the valid choices.
"""

from study.spec.data import (
    DATA_FIELDS_V1,
    DATA_FORMATS,
    DATASETS,
    FORMAT_SETTINGS,
    ColorMode,
    DataConfig,
    DataFormat,
    DatasetName,
    HoldoutConfig,
    Targets,
)
from study.spec.document import STUDY_NAME, Study, StudyFile
from study.spec.expect import EXPECT_METRICS, Expectation, Range
from study.spec.layers import (
    ACTIVATIONS,
    LAYER_TYPES,
    STUDY_OWNED_ARGS,
    Activation,
    ActivationLayer,
    BatchNormLayer,
    Conv2DLayer,
    DenseLayer,
    DropoutLayer,
    FlattenLayer,
    KerasLayer,
    Layer,
    PoolLayer,
    keras_layer_schema,
    layer_kind,
)
from study.spec.model import (
    COURSE_INITIALIZERS,
    INITIALIZERS,
    KERAS_INITIALIZERS,
    LOSSES,
    CourseInitializer,
    Initializer,
    KerasInitializer,
    LossName,
    ModelConfig,
)
from study.spec.optimizer import (
    COURSE_RULES,
    OPTIMIZERS,
    SCHEDULES,
    CosineSchedule,
    ExponentialSchedule,
    OptimizerConfig,
    OptimizerName,
    OptimizerRule,
    Schedule,
    StepSchedule,
    WarmupSchedule,
)
from study.spec.search import (
    DISTRIBUTION_KINDS,
    LOWER_IS_BETTER,
    OBJECTIVE_METRICS,
    PRUNERS,
    SAMPLERS,
    ObjectiveMetric,
    PrunerName,
    SamplerName,
    SearchConfig,
)
from study.spec.settings import LATER_SETTINGS, Settings
from study.spec.strict import Fraction, OpenUnit, PositiveFloat, PositiveInt, Strict
from study.spec.tracking import KEEP_MODELS, KeepModel, TrackingConfig
from study.spec.train import DEFAULT_NUMERICS, NUMERICS_MODES, EarlyStopping, NumericsMode, TrainConfig

__all__ = [
    "Fraction",
    "OpenUnit",
    "PositiveFloat",
    "PositiveInt",
    "Strict",
    "DATASETS",
    "DATA_FIELDS_V1",
    "DATA_FORMATS",
    "FORMAT_SETTINGS",
    "ColorMode",
    "DataConfig",
    "DataFormat",
    "DatasetName",
    "HoldoutConfig",
    "Targets",
    "ACTIVATIONS",
    "LAYER_TYPES",
    "STUDY_OWNED_ARGS",
    "Activation",
    "ActivationLayer",
    "BatchNormLayer",
    "Conv2DLayer",
    "DenseLayer",
    "DropoutLayer",
    "FlattenLayer",
    "KerasLayer",
    "Layer",
    "PoolLayer",
    "keras_layer_schema",
    "layer_kind",
    "COURSE_INITIALIZERS",
    "INITIALIZERS",
    "KERAS_INITIALIZERS",
    "LOSSES",
    "CourseInitializer",
    "Initializer",
    "KerasInitializer",
    "LossName",
    "ModelConfig",
    "COURSE_RULES",
    "OPTIMIZERS",
    "SCHEDULES",
    "CosineSchedule",
    "ExponentialSchedule",
    "OptimizerConfig",
    "OptimizerName",
    "OptimizerRule",
    "Schedule",
    "StepSchedule",
    "WarmupSchedule",
    "DEFAULT_NUMERICS",
    "NUMERICS_MODES",
    "EarlyStopping",
    "NumericsMode",
    "TrainConfig",
    "LATER_SETTINGS",
    "Settings",
    "KEEP_MODELS",
    "KeepModel",
    "TrackingConfig",
    "EXPECT_METRICS",
    "Expectation",
    "Range",
    "DISTRIBUTION_KINDS",
    "LOWER_IS_BETTER",
    "OBJECTIVE_METRICS",
    "PRUNERS",
    "SAMPLERS",
    "ObjectiveMetric",
    "PrunerName",
    "SamplerName",
    "SearchConfig",
    "STUDY_NAME",
    "Study",
    "StudyFile",
]
