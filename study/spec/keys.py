"""The dotted setting keys of the schema (`model.activation`, …) and the models found under a key."""

from __future__ import annotations

from pathlib import Path
from typing import Any, get_args

from pydantic import BaseModel

from study.errors import ConfigError
from study.spec.settings import Settings


def setting_keys() -> list[str]:
    """Every dotted setting key, e.g. `model.activation`, in schema order."""
    return [
        f"{section}.{field}"
        for section, info in Settings.model_fields.items()
        for field in section_model(info.annotation).model_fields
    ]


ARGS_KEY = "model.args"  # the builder's own arguments: `model.args.<name>` sets one of them


def is_setting_key(key: str) -> bool:
    """A dotted setting key, or one argument of the model's builder (`model.args.depth`)."""
    return key in setting_keys() or is_builder_arg(key)


def is_builder_arg(key: str) -> bool:
    """Whether `key` names one of the builder's own arguments, `model.args.<name>`."""
    return key.startswith(ARGS_KEY + ".") and len(key) > len(ARGS_KEY) + 1


def setting_of(key: str) -> str:
    """The setting a key sets: `model.args` for `model.args.depth`, else the key itself."""
    return ARGS_KEY if is_builder_arg(key) else key


def check_setting_key(key: str, where: str, path: Path | str) -> None:
    """Raise ConfigError unless `key` is a dotted setting key (or `model.args.<name>`); the message lists
    the valid ones."""
    if is_setting_key(key):
        return
    section = key.split(".", 1)[0]
    if section in Settings.model_fields:
        valid = [k for k in setting_keys() if k.startswith(section + ".")]
    else:
        valid = setting_keys()
    raise ConfigError(f"{path}: {where}: unknown setting {key!r} (valid: {', '.join(valid)})")


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


def section_model(annotation: Any) -> type[BaseModel]:
    """The model of a Settings section (every section is one)."""
    model = submodel(annotation)
    if model is None:
        raise TypeError(f"{annotation!r} is not a settings section")
    return model


def submodel(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model an annotation holds: itself, or the element of a list / optional of one."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = submodel(arg)
        if found is not None:
            return found
    return None
