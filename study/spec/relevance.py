"""Which settings take effect: for one resolved `Settings`, the dotted keys that change nothing, and why.

A study's settings are a flat schema, but many only matter under others:
`init_std` only for the `gauss` initializer, `rho` only for RMSprop, the `bn_*` settings only where
the net has a BatchNormalization layer, `hidden`/`dropout`/`batch_norm` only for a `hidden` net (an
explicit `layers` stack or an `arch` replaces them). The rules mirror how the engine builds the
model and optimizer; a key not named here always takes effect.

Used to refuse settings written explicitly that take effect in no cell, to
find cells that differ only in inert settings, and to fold inert settings in the report and dry run.
Pure Python, config-level: imports only study.spec.
"""

from __future__ import annotations

from typing import Any

from study.spec.data import FORMAT_SETTINGS
from study.spec.settings import Settings
from study.spec.task import builtin_task_kind

# Optimizer hyperparameter -> the optimizers that read it (study/engine/optimizers.py), for Keras's
# rules and for the course notebook's own (study/engine/course_optimizers.py; its AdaGrad starts h at
# 1e-4 and divides by sqrt(h), so it reads neither epsilon nor initial_accumulator).
ADAM_FAMILY = ("adam", "adamax", "nadam", "adamw")
OPTIMIZER_USES: dict[str, tuple[str, ...]] = {
    "momentum": ("momentum", "nesterov"),
    "rho": ("rmsprop", "adadelta"),
    "beta_1": ADAM_FAMILY,
    "beta_2": ADAM_FAMILY,
    "epsilon": ("adagrad", "rmsprop", "adadelta", *ADAM_FAMILY),
    "initial_accumulator": ("adagrad",),
}
COURSE_OPTIMIZER_USES: dict[str, tuple[str, ...]] = {
    "momentum": ("momentum",),
    "rho": ("rmsprop",),
    "beta_1": ("adam",),
    "beta_2": ("adam",),
    "epsilon": ("rmsprop", "adam"),
    "initial_accumulator": (),
}
BN_SETTINGS = ("bn_momentum", "bn_epsilon", "bn_train_affine")
HIDDEN_NET_SETTINGS = ("hidden", "batch_norm", "dropout")  # read only when the net is built from `hidden`
# What the engine builds a layer stack from: a `model.builder` builds the net itself from `model.args` instead.
STACK_SETTINGS = (
    "hidden",
    "activation",
    "initializer",
    "init_std",
    "batch_norm",
    "bn_momentum",
    "bn_epsilon",
    "bn_train_affine",
    "dropout",
    "l1",
    "l2",
)


def inert_settings(settings: Settings) -> dict[str, str]:
    """Dotted key -> why it has no effect on this cell, for every setting that changes nothing here."""
    inert: dict[str, str] = {}
    inert.update(inert_data_settings(settings))
    inert.update(inert_model_settings(settings))
    if builtin_task_kind(settings.model.loss) is not None:
        inert["model.task"] = f"model.loss {settings.model.loss} decides the task (model.task is for your own loss)"
    inert.update(inert_optimizer_settings(settings))
    return inert


def inert_data_settings(settings: Settings) -> dict[str, str]:
    """The data settings of other formats than this cell's (a keras.datasets name reads none of them)."""
    data = settings.data
    source = f"data.format is {data.format}" if data.format else f"{data.name} is a keras.datasets name"
    inert = {
        f"data.{key}": f"read only with data.format {' or '.join(formats)}; {source}"
        for key, formats in FORMAT_SETTINGS.items()
        if data.format not in formats
    }
    if data.format not in ("npz", "csv"):
        inert["data.targets"] = f"read only with data.format npz or csv; {source} (its labels are classes)"
    return inert


def effective_settings(settings: Settings) -> dict[str, Any]:
    """The cell's settings as {dotted key: JSON value}, without the inert ones: what decides its numbers."""
    inert = inert_settings(settings)
    doc = settings.model_dump(mode="json")
    return {
        f"{section}.{name}": value
        for section, fields in doc.items()
        for name, value in fields.items()
        if f"{section}.{name}" not in inert
    }


def inert_optimizer_settings(settings: Settings) -> dict[str, str]:
    """The optimizer hyperparameters the chosen optimizer (under its rule) does not read."""
    opt = settings.optimizer
    rule = getattr(opt, "rule", "keras")
    uses = COURSE_OPTIMIZER_USES if rule == "course" else OPTIMIZER_USES
    under = " under optimizer.rule course" if rule == "course" else ""
    out = {}
    for key, users in uses.items():
        if key in type(opt).model_fields and opt.name not in users:
            if not users:
                out[f"optimizer.{key}"] = f"no optimizer reads it{under}"
                continue
            verb = "uses" if len(users) == 1 else "use"
            out[f"optimizer.{key}"] = f"only {' / '.join(users)} {verb} it{under} (optimizer.name is {opt.name})"
    return out


def inert_model_settings(settings: Settings) -> dict[str, str]:
    """The model settings the net's structure does not read."""
    m = settings.model
    if m.builder is not None:
        why = "model.builder builds the net (it reads model.args only)"
        return {f"model.{key}": why for key in STACK_SETTINGS}
    out: dict[str, str] = {"model.args": "only a model.builder reads it (this net is built from its settings)"}
    if m.initializer != "gauss":
        out["model.init_std"] = f"only the gauss initializer uses it (model.initializer is {m.initializer})"
    if m.layers is not None:
        stack = f"architecture {m.arch!r}" if m.arch else "model.layers"
        for key in HIDDEN_NET_SETTINGS:
            out[f"model.{key}"] = f"only a `hidden` net uses it; this net is {stack}"
    elif not m.hidden:
        for key in ("batch_norm", "dropout"):
            out[f"model.{key}"] = "the net has no hidden layers (model.hidden is [])"
    if not uses_study_activation(settings):
        out["model.activation"] = (
            "no layer uses it: every activation layer of the stack names its own"
            if m.layers is not None
            else "the net has no hidden layers (model.hidden is [])"
        )
    if not has_batch_norm(settings):
        why = (
            "the stack has no batch_norm layer"
            if m.layers is not None
            else "the net has no BatchNormalization (model.batch_norm is off)"
            if m.hidden
            else "the net has no hidden layers (model.hidden is [])"
        )
        for key in BN_SETTINGS:
            out[f"model.{key}"] = why
    return out


def has_batch_norm(settings: Settings) -> bool:
    """Whether the cell's net holds a BatchNormalization layer."""
    m = settings.model
    if m.layers is not None:
        return any(layer_type(layer) == "batch_norm" for layer in m.layers)
    return bool(m.hidden) and m.batch_norm != "off"


def uses_study_activation(settings: Settings) -> bool:
    """Whether some layer takes `model.activation` (an `activation` layer without a `name`, or a hidden net)."""
    m = settings.model
    if m.layers is not None:
        return any(layer_type(layer) == "activation" and getattr(layer, "name", None) is None for layer in m.layers)
    return bool(m.hidden)


def layer_type(layer: Any) -> str:
    """A layer spec's `type` (a model or, for layer kinds added later, a mapping)."""
    return str(layer.get("type") if isinstance(layer, dict) else getattr(layer, "type", ""))
