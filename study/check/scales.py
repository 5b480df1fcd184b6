"""The pre-run warning for feature vectors on very different scales: a network trained on them learns the
small-scale features far more slowly, and its result swings with the seed. A notice, not an error."""

from __future__ import annotations

from collections.abc import Sequence

from study.data.sources import raw_for
from study.data.standardize import SPREAD_WARNING, spread
from study.plan.grid import Cell
from study.spec.data import FORMAT_SETTINGS, DataConfig
from study.spec.document import Study


def scale_warnings(study: Study, cells: Sequence[Cell]) -> list[str]:
    """One line per data file whose feature stds differ by more than SPREAD_WARNING, unless a cell of the
    study standardizes that file (a grid comparing both ways needs no advice)."""
    standardized = {cell.settings.data.path for cell in cells if cell.settings.data.standardize}
    out: list[str] = []
    for d in dict.fromkeys(cell.settings.data for cell in cells):
        if d.format in FORMAT_SETTINGS["standardize"] and d.path not in standardized:
            line = scale_warning(study, d)
            if line is not None and line not in out:
                out.append(line)
    return out


def scale_warning(study: Study, d: DataConfig) -> str | None:
    """The warning for one data setting's training file, or None when its features share a scale."""
    raw = raw_for(d)
    found = spread(raw.x_train, raw.features)
    if found is None or found.ratio <= SPREAD_WARNING:
        return None
    return (
        f"{study.source}: data: the features of {d.path} span very different scales (std of {found.widest} "
        f"{found.widest_std:.3g}, of {found.narrowest} {found.narrowest_std:.3g}: {found.ratio:,.0f}×, more than "
        f"{SPREAD_WARNING:g}×); small-scale features learn slowly and results swing with the seed: "
        "set data.standardize: true"
    )
