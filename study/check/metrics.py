"""The summary metrics a study file names outside its search (`tracking.keep_metric`, `expect:` ranges) are ones
its cells record: a val_* metric only with `data.validation`. One line per problem, before anything runs."""

from __future__ import annotations

from collections.abc import Sequence

from study.check.expectations import axis_names, cell_matches
from study.errors import ConfigError
from study.plan.grid import Cell
from study.spec.document import Study
from study.spec.expect import EXPECT_METRICS
from study.spec.summary_metrics import metric_problem


def check_metrics(study: Study, cells: Sequence[Cell]) -> None:
    """ConfigError naming the file, key and metric when a named metric is one the cells do not record."""
    keep = study.spec.tracking.keep_metric
    problem = metric_problem(keep, study.base) if keep is not None else None
    if problem is not None:
        raise ConfigError(f"{study.source}: tracking.keep_metric: {keep!r} {problem}")
    if not cells or not study.spec.expect:
        return
    names = axis_names(cells)
    for i, exp in enumerate(study.spec.expect):
        selected = [c for c in cells if cell_matches(c, exp.cells, names)]
        for metric in (m for m in EXPECT_METRICS if getattr(exp, m) is not None):
            problem = next((p for c in selected if (p := metric_problem(metric, c.settings)) is not None), None)
            if problem is not None:
                raise ConfigError(f"{study.source}: expect[{i}].{metric}: {metric!r} {problem}")
