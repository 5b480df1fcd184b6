"""`study run --dry-run`: the checks a real run makes before it writes anything, then every cell with the
settings in which it differs from the defaults, so a dry run that passes means the run starts."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from study.check.estimate import Estimate, estimate
from study.check.study_plan import Plan, check
from study.plan.grid import Cell, cells_count, flatten_settings
from study.plan.space import describe_space
from study.spec.document import Study
from study.spec.relevance import inert_settings
from study.spec.settings import Settings

if TYPE_CHECKING:
    from study.check.preflight import Preflight


@dataclass(frozen=True)
class DryRun:
    """The checked plan and the text describing it: a grid's cells, or a search's space."""

    plan: Plan
    shared: dict[str, Any]  # non-default settings every cell has (a grid's)
    own: list[dict[str, Any]]  # per cell: its other non-default settings and its axes (a grid's)
    workers: int = 1  # the processes `study run --workers` would train in

    @property
    def cells(self) -> list[Cell]:
        return self.plan.cells

    @property
    def checked(self) -> Preflight:
        """What the pre-run checks found (their lines go to stderr)."""
        return self.plan.checked

    def text(self) -> str:
        """What --dry-run prints on stdout."""
        if self.plan.is_search:
            return describe_space(self.plan.study)
        lines = [f"every cell: {_settings(self.shared) or 'the defaults (study settings lists them)'}"]
        for cell, own in zip(self.cells, self.own):
            lines.append(f"{cell.index:4d}  {cell.config_hash}  {cell.name}")
            if own:
                lines.append(f"        {_settings(own)}")
        return "\n".join(lines)

    def estimate(self) -> Estimate:
        """The run's wall time and store growth from the plan (a search: its budget of trials over the
        space's corners; adaptive seeds: the first round)."""
        from study.runtime.calibration import calibration
        from study.runtime.rate import machine_rate

        cells = self.cells
        search = self.plan.study.spec.search
        if search is not None and search.trials and cells:
            cells = [cells[k % len(cells)] for k in range(search.trials)]
        kept = self.plan.study.spec.tracking.keep_model != "none"
        return estimate(cells, self.checked.data, machine_rate(remeasure=True), self.workers, kept, calibration())

    def summary(self) -> str | None:
        """The closing lines (stderr) of a dry run: the counts and that the checks passed (a grid's), and
        the estimate."""
        if self.plan.is_search:
            return self.estimate().line()
        adaptive = self.plan.study.spec.adaptive
        rounds = ""
        if adaptive is not None:  # the first round; more seeds only where a comparison stays open
            most = len({c.group for c in self.cells}) * adaptive.max
            rounds = f" in the first round, then seeds in rounds up to {adaptive.max} per cell ({most} runs at most)"
        counts = f"{cells_count(self.cells)}{rounds}; every check of `study run` passed, nothing written"
        return f"{counts}\n{self.estimate().line()}"


def dry_run(study: Study, workers: int = 1) -> DryRun:
    """Run the real run's checks (`check`: expectations, numerics, every dataset from its headers, shapes)
    and work out each grid cell's non-default settings; `workers`: the estimate's processes."""
    plan = check(study)
    if plan.is_search:
        return DryRun(plan, {}, [], workers)
    if study.spec.adaptive is not None:  # its limits against the grid's size, as `study run` checks them
        from study.plan.seed_rounds import seed_plan

        seed_plan(study, study.spec.adaptive)
    cells = plan.cells
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
    return DryRun(plan, shared, own, workers)


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
