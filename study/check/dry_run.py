"""`study run --dry-run`: run the checks a real run makes before it writes anything, then print every
cell with the settings in which it differs from the schema's defaults (those that take no effect in
the cell, by study/spec/relevance.py, left out) — so a dry run that passes means the run starts, and shows
what it will train."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from study.plan.grid import Cell, cells_count, expand, flatten_settings
from study.spec import Settings, Study
from study.spec.relevance import inert_settings

if TYPE_CHECKING:
    from study.check.preflight import Preflight


@dataclass(frozen=True)
class DryRun:
    """The planned cells, what preflight checked, and the text describing them."""

    cells: list[Cell]
    checked: Preflight  # what preflight checked (its lines go to stderr)
    shared: dict[str, Any]  # non-default settings every cell has
    own: list[dict[str, Any]]  # per cell: its other non-default settings and its axes

    def text(self) -> str:
        """What --dry-run prints on stdout."""
        lines = [f"every cell: {_settings(self.shared) or 'the defaults (study settings lists them)'}"]
        for cell, own in zip(self.cells, self.own):
            lines.append(f"{cell.index:4d}  {cell.config_hash}  {cell.name}")
            if own:
                lines.append(f"        {_settings(own)}")
        return "\n".join(lines)

    def summary(self) -> str:
        """The closing line (stderr): the counts and that the checks passed."""
        return f"{cells_count(self.cells)}; every check of `study run` passed, nothing written"


def dry_run(study: Study) -> DryRun:
    """Expand the grid, run the real run's checks (expectations, numerics, every dataset and its sizes),
    and work out each cell's non-default settings."""
    from study.check.expectations import check_expectations
    from study.check.preflight import preflight

    cells = expand(study)  # the same checks, in the same order, as run_study before its store is opened
    check_expectations(study, cells)
    checked = preflight(study, cells)  # data from its headers where it can: a dry run loads no arrays
    changed = [non_default_settings(cell.settings) for cell in cells]
    shared = {k: v for k, v in changed[0].items() if all(k in c and c[k] == v for c in changed[1:])}
    axis_keys = list(study.spec.grid)
    own = []
    for cell, settings in zip(cells, changed):
        mine = {k: v for k, v in settings.items() if k not in shared}
        flat = flatten_settings(cell.settings)
        for key in _axis_settings(cell, axis_keys):  # a grid value always shows, even at its default
            if key in flat and key not in mine:
                mine[key] = flat[key]
        own.append(mine)
    return DryRun(cells, checked, shared, own)


def _axis_settings(cell: Cell, axis_keys: list[str]) -> list[str]:
    """The setting keys a cell's grid values set: the axis key, or a bundle axis' keys."""
    keys = []
    for key in axis_keys:
        value = cell.axes.get(key)
        keys.extend([k for k in value if k != "label"] if isinstance(value, dict) else [key])
    return keys


def non_default_settings(settings: Settings) -> dict[str, Any]:
    """Dotted key -> value of every setting that differs from its default and takes effect here."""
    defaults = flatten_settings(Settings())
    inert = inert_settings(settings)
    return {k: v for k, v in flatten_settings(settings).items() if v != defaults.get(k) and k not in inert}


def _settings(values: dict[str, Any]) -> str:
    """'model.activation=tanh  model.hidden=[100, 50]'."""
    return "  ".join(f"{k}={_value(v)}" for k, v in values.items())


def _value(value: Any) -> str:
    """A setting's value as YAML-ish text: lists and mappings as compact JSON, None as unset."""
    if value is None:
        return "unset"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(", ", ": "))
    return str(value)
