"""Every setting of a study file, generated from the schema: its type, default, valid
values and one-line meaning (the field's attribute docstring). The text of `study settings`, the
settings reference in Markdown (tests keep the doc in sync) and the JSON Schema of `study schema`.
"""

from __future__ import annotations

import json
import types
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt, MaxLen, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from study.errors import StudyError
from study.spec.document import StudyFile
from study.spec.layers import LAYER_TYPES, Layer
from study.spec.settings import Settings

NO_DEFAULT = "(required)"
BELOW = "its keys are listed below"


@dataclass(frozen=True)
class SettingDoc:
    """One setting: dotted key, type, default, valid values and meaning."""

    key: str
    type: str
    default: str
    valid: str
    meaning: str


@dataclass(frozen=True)
class Group:
    """A heading and its settings (a section of the settings, a layer type, the document's keys)."""

    name: str
    title: str
    entries: tuple[SettingDoc, ...]


def groups() -> list[Group]:
    """Every setting in schema order: the document's keys, the sections (each followed by the mappings
    nested in it, e.g. the schedules), `tracking:` and `expect:` entries, then the layer types."""
    out = [Group("document", "The study file's top-level keys", tuple(_fields(StudyFile, "")))]
    for name, info in Settings.model_fields.items():
        model = _model_of(info.annotation)
        out.append(Group(name, f"{name}: {_one_line(info.description)}", tuple(_fields(model, f"{name}."))))
        out.extend(_nested_groups(model, f"{name}."))
    for name, info in StudyFile.model_fields.items():
        nested = [m for m in _models_in(info.annotation) if not _is_layer_model(m)]
        if len(nested) == 1 and name != "base":
            title = f"{name}: {_one_line(nested[0].__doc__)}"
            out.append(Group(name, title, tuple(_fields(nested[0], f"{name}."))))
    for layer in _layer_models():
        kinds = get_args(layer.model_fields["type"].annotation)
        if not kinds:  # any Keras layer by class name
            name, types_text = "layer.keras", "type: a keras.layers class name, e.g. Conv2D"
            meaning = _one_line(layer.__doc__)
        else:
            name = f"layer.{kinds[0] if len(kinds) == 1 else kinds[0].rsplit('_', 1)[-1]}"
            types_text = f"type: {' or '.join(kinds)}"
            meaning = _one_line(layer.model_fields["type"].description)
        title = f"{name}: {meaning} (an item of model.layers, {types_text})"
        entries = tuple(e for e in _fields(layer, f"{name}.") if not e.key.endswith(".type"))
        out.append(Group(name, title, entries))
    return out


def _nested_groups(model: type[BaseModel], prefix: str) -> Iterator[Group]:
    """A group per mapping nested in a section's field (`optimizer.schedule.step`, `train.early_stopping`)."""
    for name, info in model.model_fields.items():
        nested = [m for m in _models_in(info.annotation) if not _is_layer_model(m)]
        for sub in nested:
            tag = _tag(sub)
            key = f"{prefix}{name}" + (f".{tag[1]}" if tag and len(nested) > 1 else "")
            title = f"{key}: {_one_line(sub.__doc__)}" + (f" ({tag[0]}: {tag[1]})" if tag else "")
            fields = (e for e in _fields(sub, f"{key}.") if not (tag and e.key == f"{key}.{tag[0]}"))
            yield Group(key, title, tuple(fields))


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """The pydantic models an annotation holds (itself, or the members of a union / list / Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tag(model: type[BaseModel]) -> tuple[str, str] | None:
    """(field, value) of a model's discriminator: its field typed as a one-value Literal."""
    for name, info in model.model_fields.items():
        if get_origin(info.annotation) is Literal and len(get_args(info.annotation)) == 1:
            return name, str(get_args(info.annotation)[0])
    return None


def _is_layer_model(model: type[BaseModel]) -> bool:
    return model in _layer_models()


def entries() -> Iterator[SettingDoc]:
    """Every setting of every group."""
    for group in groups():
        yield from group.entries


def settings_text(key: str | None = None) -> str:
    """The text of `study settings [KEY]`: every setting, one group's, or one setting's."""
    chosen = _select(key)
    blocks = []
    for group in chosen:
        lines = [f"{group.title}", ""] if key is None or key == group.name else []
        if not group.entries:
            lines.append("  (no settings)")
        for e in group.entries:
            default = "required" if e.default == NO_DEFAULT else f"default {e.default}"
            lines.append(f"  {e.key}  ({e.type}; {default})")
            lines.append(f"      {e.meaning}")
            if e.valid:
                lines.append(f"      valid: {e.valid}")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def settings_markdown() -> str:
    """docs/settings.md: the same settings as `study settings`, one table per group."""
    parts = [
        "# Settings",
        "",
        "Every key of a study file with its type, default, valid values and meaning. Generated from the schema",
        "(study/spec/) by `study settings --markdown > docs/settings.md`; `study settings [KEY]` prints the same",
        "in the terminal and `study schema` the JSON Schema for editor completion. A test keeps this file in sync.",
        "",
    ]
    for group in groups():
        parts += [f"## {group.title}", "", "| key | type | default | valid | meaning |", "|---|---|---|---|---|"]
        for e in group.entries:
            cells = (f"`{e.key}`", e.type, f"`{e.default}`", e.valid, e.meaning)
            parts.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
        parts.append("")
    return "\n".join(parts)


def study_schema() -> dict[str, Any]:
    """The JSON Schema of a study file, for editors: `base` typed as the settings, descriptions included."""
    schema = StudyFile.model_json_schema()
    settings = Settings.model_json_schema()
    defs = schema.setdefault("$defs", {})
    defs.update(settings.pop("$defs", {}))
    defs["Settings"] = settings
    base = StudyFile.model_fields["base"].description
    schema["properties"]["base"] = {"$ref": "#/$defs/Settings", "description": base}
    keras = defs.get("KerasLayer")
    if keras is not None:  # a Keras layer's constructor arguments sit beside `type` (KerasLayer gathers them)
        keras["additionalProperties"] = True
        keras["properties"]["type"]["pattern"] = "^[A-Z]"  # a class name; the course's types are lower-case
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "study file"
    return schema


def schema_text() -> str:
    """`study schema`: the JSON Schema, indented."""
    return json.dumps(study_schema(), indent=2, ensure_ascii=False) + "\n"


def _select(key: str | None) -> list[Group]:
    """The groups (or the single entry) `study settings KEY` prints; StudyError for an unknown key."""
    all_groups = groups()
    if key is None:
        return all_groups
    for group in all_groups:
        if key == group.name:
            return [group]
    for group in all_groups:
        for e in group.entries:
            if e.key == key:
                return [Group(group.name, group.title, (e,))]
    names = [g.name for g in all_groups]
    matches = [e.key for e in entries() if key in e.key]
    hint = f"; did you mean {', '.join(matches[:6])}?" if matches else ""
    raise StudyError(f"study settings: unknown key {key!r} (a group: {', '.join(names)}; or a dotted key){hint}")


def _fields(model: type[BaseModel], prefix: str) -> Iterator[SettingDoc]:
    """One SettingDoc per field of a model."""
    for name, info in model.model_fields.items():
        type_text, valid = describe_annotation(info.annotation, info.metadata)
        yield SettingDoc(f"{prefix}{name}", type_text, _default(info), valid, _one_line(info.description))


def describe_annotation(annotation: Any, metadata: list[Any] = ()) -> tuple[str, str]:  # type: ignore[assignment]
    """(type text, valid values text) of an annotation and its constraints."""
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        models = [m for a in inner for m in _models_in(a)]
        if len(models) > 1 and len(models) == len(inner) and all(_tag(m) for m in models):
            field = _tag(models[0])[0]  # type: ignore[index]
            valid = f"a mapping with `{field}`: " + ", ".join(_tag(m)[1] for m in models)  # type: ignore[index]
            return ("mapping, optional", valid + "; or unset") if type(None) in args else ("mapping", valid)
        parts = [describe_annotation(a, metadata) for a in inner]
        type_text = " or ".join(t for t, _ in parts)
        valid = "; ".join(v for _, v in parts if v)
        if len(parts) > 1:  # e.g. seeds: a list or a count
            valid = "; ".join(f"as {t}: {v}" for t, v in parts if v)
        if type(None) in args:
            return f"{type_text}, optional", (valid + "; or unset" if valid else "")
        return type_text, valid
    if origin is Literal:
        return "choice", ", ".join(str(a) for a in args)
    if origin is list:
        element = args[0] if args else Any
        inner_type, inner_valid = describe_annotation(*_unwrap(element))
        size = _constraints(metadata)
        each = "each a mapping, its keys listed below" if inner_valid == BELOW else f"each {inner_valid}"
        valid = "; ".join(v for v in (each if inner_valid else "", size) if v)
        return f"list of {inner_type}", valid
    if origin is dict:
        return "mapping", ""
    if _is_layer(annotation):
        return "layer", f"a mapping with `type`: {', '.join(LAYER_TYPES)}, or a keras.layers class name"
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "mapping", BELOW
    if get_origin(annotation) is not None and hasattr(annotation, "__metadata__"):
        return describe_annotation(*_unwrap(annotation))
    name = getattr(annotation, "__name__", str(annotation))
    return {"int": "integer", "float": "number", "bool": "true/false", "str": "text"}.get(name, name), _constraints(
        metadata
    )


def _unwrap(annotation: Any) -> tuple[Any, list[Any]]:
    """An Annotated[T, constraints...] as (T, constraints); anything else as (it, [])."""
    if hasattr(annotation, "__metadata__"):
        base = get_args(annotation)[0]
        meta = [m for m in annotation.__metadata__ if not isinstance(m, FieldInfo)]
        for m in annotation.__metadata__:
            if isinstance(m, FieldInfo):
                meta += m.metadata
        if get_args(base) and _is_layer(annotation):
            return annotation, []
        return base, meta
    return annotation, []


def _constraints(metadata: list[Any]) -> str:
    """'> 0', '≥ 0 and < 1', 'exactly 2 items' … from annotated_types constraints."""
    words = []
    for m in metadata:
        if isinstance(m, Gt):
            words.append(f"> {m.gt}")
        elif isinstance(m, Ge):
            words.append(f"≥ {m.ge}")
        elif isinstance(m, Lt):
            words.append(f"< {m.lt}")
        elif isinstance(m, Le):
            words.append(f"≤ {m.le}")
    lengths = [m for m in metadata if isinstance(m, (MinLen, MaxLen))]
    mins = [m.min_length for m in lengths if isinstance(m, MinLen)]
    maxs = [m.max_length for m in lengths if isinstance(m, MaxLen)]
    if mins and maxs and mins[0] == maxs[0]:
        words.append(f"exactly {mins[0]} items")
    return " and ".join(words)


def _default(info: FieldInfo) -> str:
    """The default as YAML would write it; `unset` for None; NO_DEFAULT when required."""
    if info.is_required():
        return NO_DEFAULT
    value = info.get_default(call_default_factory=True)
    if value is None:
        return "unset"
    if value == "":
        return '""'
    if isinstance(value, BaseModel):
        return "(see below)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return f"{value:g}" if isinstance(value, float) else str(value)


def _one_line(text: str | None) -> str:
    """A docstring on one line."""
    return " ".join((text or "").split())


def _model_of(annotation: Any) -> type[BaseModel]:
    """The section model of a Settings field."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    raise TypeError(f"{annotation!r} is not a settings section")


def _is_layer(annotation: Any) -> bool:
    """Whether an annotation is the Layer union."""
    if annotation is Layer:
        return True
    return hasattr(annotation, "__metadata__") and get_args(annotation)[:1] == get_args(Layer)[:1]


def _layer_models() -> list[type[BaseModel]]:
    """The layer models of the Layer union, in declaration order, each once."""
    return list(dict.fromkeys(_models_in(Layer)))
