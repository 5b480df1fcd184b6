"""The schema's errors as one line: the file, the dotted key, the bad value and what would be valid."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ValidationError

from study.errors import ConfigError
from study.spec.keys import fields_at
from study.spec.layers import LAYER_TYPES
from study.spec.settings import Settings


def validated(model: type[BaseModel], data: Any, source: str, prefix: str):
    """Validate `data` against `model`, turning the first pydantic error into one clear line."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(describe(dict(exc.errors()[0]), model, source, prefix)) from None


def cell_error(exc: ValidationError, source: str, owners: dict[str, str], cell: dict[str, Any]) -> str:
    """One line for a grid cell whose settings do not validate. When the bad setting comes from one
    axis (`owners`: setting key -> the axis that sets it), only that axis is named; otherwise (two
    settings inconsistent together) the whole cell is."""
    err: dict[str, Any] = dict(exc.errors()[0])
    loc = [str(p) for p in err["loc"]]
    owner = owners.get(".".join(loc[:2]))
    if owner is None:
        values = ", ".join(f"{k}={v!r}" for k, v in cell.items())
        where = "grid." + ", grid.".join(cell)
        return f"{describe(err, Settings, source, prefix='')} (in the grid cell {values}; check {where})"
    if owner == ".".join(loc[:2]):  # a plain axis: grid.<key>: …
        if len(loc) == 2:
            return describe(err, Settings, source, prefix="grid")
        inside = describe(err, Settings, source, prefix="").removeprefix(f"{source}: ")
        return f"{source}: grid.{owner}: in the level {cell[owner]!r}: {inside}"
    text = describe(err, Settings, source, prefix="")  # a bundle axis: grid.<axis>: <setting>: …
    return text.replace(f"{source}: ", f"{source}: grid.{owner}: ", 1)


def describe(err: dict[str, Any], model: type[BaseModel], source: str, prefix: str) -> str:
    """One line: file, dotted key, bad value, and what would be valid."""
    loc = [str(p) for p in err["loc"] if not str(p).startswith(("function-after", "tagged-union"))]
    # Drop a discriminated union's tag (layers.0.dense.units -> layers.0.units), never a field
    # that merely shares a layer type's name (model.activation, model.dropout).
    loc = [p for i, p in enumerate(loc) if not (p in (*LAYER_TYPES, "keras") and i > 0 and loc[i - 1].isdigit())]
    key = ".".join(([prefix] if prefix else []) + loc) or "(top level)"
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        valid = ", ".join(fields_at(model, loc[:-1])) or "none"
        return f"{source}: {key}: unknown key {loc[-1]!r} (valid keys here: {valid})"
    if kind == "missing":
        return f"{source}: {key}: required key is missing"
    if kind == "literal_error":
        return f"{source}: {key}: {shown(value)} is not valid (valid: {literal_choices(err)})"
    if kind == "union_tag_invalid":
        return f"{source}: {key}: unknown layer type {err['ctx']['tag']!r} (valid: {', '.join(LAYER_TYPES)})"
    if kind == "union_tag_not_found":
        return f"{source}: {key}: a layer needs a `type` (valid: {', '.join(LAYER_TYPES)})"
    msg = err["msg"].removeprefix("Value error, ")
    if kind == "value_error" and not loc:
        return f"{source}: {msg}"
    return (
        f"{source}: {key}: {shown(value)}: {msg}"
        if value is not None and not isinstance(value, dict)
        else f"{source}: {key}: {msg}"
    )


MAX_SHOWN = 80  # characters of a bad value echoed in a message; a longer one is cut, with its length


def shown(value: Any) -> str:
    """A bad value as the message repeats it: its repr, cut to MAX_SHOWN characters with its length said (a
    6,000-digit `--set seeds=…` stays one readable line)."""
    text = repr(value)
    return text if len(text) <= MAX_SHOWN else f"{text[: MAX_SHOWN - 20]}… ({len(text):,} characters)"


def literal_choices(err: dict[str, Any]) -> str:
    """The valid values of a Literal error, as a comma-separated list."""
    expected = err.get("ctx", {}).get("expected", "")
    return ", ".join(part.strip(" '") for part in re.split(r",| or ", expected) if part.strip(" '"))
