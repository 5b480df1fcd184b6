"""Errors that teach: the common shape mistakes of a study file, caught before the schema's own
(correct but terse) messages, each as one line naming only the key that is wrong and how to write it.

- a list-valued setting as an axis written flat: `model.hidden: [100, 50]` (one level is a list: `[[100, 50]]`);
- a nested grid: `grid: {model: {activation: [...]}}` (grid keys are dotted: `model.activation: [...]`);
- one value where an axis needs a list: `grid: {model.activation: relu}` (`[relu]`);
- dotted keys under `base` (`base: {model.activation: relu}`; base is nested: `model: {activation: relu}`);
- `exclude` as one mapping instead of a list of them; grid axes written at the top level.
"""

from __future__ import annotations

import types
from functools import cache
from typing import Any, Union, get_args, get_origin

from study.errors import ConfigError
from study.spec.settings import Settings

SECTIONS = tuple(Settings.model_fields)


@cache
def list_valued_settings() -> frozenset[str]:
    """Dotted keys whose value is itself a list (model.hidden, model.layers, …)."""
    keys = set()
    for section, info in Settings.model_fields.items():
        model = info.annotation
        for name, field in model.model_fields.items():  # type: ignore[union-attr]
            annotation = field.annotation
            if get_origin(annotation) in (Union, types.UnionType):
                annotation = next((a for a in get_args(annotation) if a is not type(None)), annotation)
            if get_origin(annotation) is list:
                keys.add(f"{section}.{name}")
    return frozenset(keys)


def check_shapes(doc: dict[str, Any], source: str, setting_keys: list[str]) -> None:
    """Raise ConfigError with a hint for the first shape mistake in a study document; pass otherwise."""
    grid = doc.get("grid")
    if grid is None:
        _axes_at_top_level(doc, source, setting_keys)
    if isinstance(grid, dict):
        for key, values in grid.items():
            _check_axis(str(key), values, source, setting_keys)
    base = doc.get("base")
    if isinstance(base, dict):
        for key, value in base.items():
            if isinstance(key, str) and "." in key and key.split(".", 1)[0] in SECTIONS:
                section, field = key.split(".", 1)
                raise ConfigError(
                    f"{source}: base.{key}: base is nested by section, not dotted: write "
                    f"`{section}: {{{field}: {_yaml(value)}}}` under base"
                )
    exclude = doc.get("exclude")
    if isinstance(exclude, dict):
        raise ConfigError(
            f"{source}: exclude: a list of combinations, each a mapping: write `exclude: [{_yaml(exclude)}]`"
        )


def _check_axis(key: str, values: Any, source: str, setting_keys: list[str]) -> None:
    """One grid axis: nested, scalar, or a list-valued setting written flat."""
    if key in SECTIONS and isinstance(values, dict):
        dotted = ", ".join(f"{key}.{k}: {_yaml(v)}" for k, v in values.items())
        raise ConfigError(f"{source}: grid.{key}: grid keys are dotted, not nested: write `{dotted}` under grid")
    if key in setting_keys and not isinstance(values, list):
        example = "[[...]]" if key in list_valued_settings() else f"[{_yaml(values)}]"
        raise ConfigError(
            f"{source}: grid.{key}: an axis takes a list of values, one per level: write `{key}: {example}` "
            f"(got {values!r})"
        )
    if key in list_valued_settings() and isinstance(values, list) and values:
        if not all(isinstance(v, list) or v is None for v in values):
            raise ConfigError(
                f"{source}: grid.{key}: each level of this axis is a whole {key} (itself a list), so the axis is "
                f"a list of lists: write `{key}: [{_yaml(values)}]` for one level, or `[[a, b], [c, d]]` for "
                f"several (got {values!r})"
            )


def _axes_at_top_level(doc: dict[str, Any], source: str, setting_keys: list[str]) -> None:
    """No `grid:` but dotted setting keys (or sections) at the top: they belong under grid or base."""
    stray = [k for k in doc if isinstance(k, str) and (k in setting_keys or k in SECTIONS)]
    if stray:
        raise ConfigError(
            f"{source}: {stray[0]}: not a top-level key; an axis goes under `grid:` "
            f"(e.g. `grid: {{{stray[0]}: [...]}}`), a fixed setting under `base:`"
        )


def _yaml(value: Any) -> str:
    """A value as one line of flow-style YAML, as the user would write it: `[relu, tanh]`, `{a: 1}`."""
    import yaml

    if isinstance(value, str):
        return value
    try:
        return yaml.safe_dump(value, default_flow_style=True, width=10**6, sort_keys=False).strip()
    except yaml.YAMLError:
        return repr(value)
