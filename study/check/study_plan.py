"""`check(study) -> Plan`: everything about a study that can be known before training, in one call.

Every caller that needs a checked study — `study run`, `--dry-run`, `study.cells`, `study reproduce`
and the search — asks this function, so a study refused by one is refused by all of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from study.check.expectations import check_expectations
from study.check.metrics import check_metrics
from study.check.preflight import Preflight, preflight
from study.plan.grid import Cell, expand
from study.plan.space import Param, probe_cells, search_space
from study.spec.document import Study


@dataclass(frozen=True)
class Plan:
    """A checked study: the cells a grid trains (a search's probe cells: its space's corners), the search
    space (None for a grid) and what the pre-run checks found (the data's shapes, the structures built)."""

    study: Study
    cells: list[Cell]
    params: list[Param] | None
    checked: Preflight

    @property
    def is_search(self) -> bool:
        return self.params is not None


def check(study: Study, cells: Sequence[Cell] | None = None) -> Plan:
    """Plan the study and run every pre-run rule on it; raises ConfigError or DataError on the first problem.

    `cells`: check these instead of the study's own plan (a reproduction re-trains the cells its runs recorded).
    """
    params = search_space(study) if study.spec.search is not None else None
    if cells is not None:
        planned = list(cells)
    elif params is not None:
        planned = probe_cells(study, params)
    else:
        planned = expand(study)
        check_expectations(study, planned)
    check_metrics(study, planned)
    return Plan(study, planned, params, preflight(study, planned))
