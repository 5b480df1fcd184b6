"""Which runs of a grid's `study run` may still turn out to hold the model `keep_model: best` keeps, so that
the others skip saving theirs (Keras's save in the training process, the largest part of a tiny cell's
bookkeeping): a run beaten by another seed of its cell, or whose cell cannot beat a finished cell even if
its other seeds reached the metric's best possible value (accuracy 1, an error or loss 0), is not kept.

Only cells whose every seed trains in this process are compared (seeds split among processes, or trained
by an earlier run, leave a cell open), and never a search's trials or adaptive seeds, whose cells can get
more seeds later: a cell that is not kept here can never become the kept one.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Sequence

from study.plan.grid import Cell
from study.spec.document import Study
from study.spec.summary_metrics import grid_keep_metric, higher_is_better
from study.spec.task import task_of


class Contenders:
    """The finished runs' values by cell, and which cells are complete here."""

    def __init__(self, metric: str, seeds: int, jobs_per_cell: Counter):
        self.metric, self.seeds = metric, seeds
        self.sign = 1.0 if higher_is_better(metric) else -1.0
        self.ideal = 1.0 if higher_is_better(metric) else 0.0  # accuracy's best value; an error's or a loss's
        self.whole = {cell for cell, n in jobs_per_cell.items() if n == seeds}  # every seed trains here
        self.values: dict[str, list[float]] = {}

    @classmethod
    def of(cls, study: Study, cells: Sequence[Cell]) -> Contenders | None:
        """For a grid's cells to train here, with `keep_model: best` and a fixed list of seeds; None otherwise
        (keep all)."""
        if not cells:
            return None
        spec = study.spec
        if spec.tracking.keep_model != "best" or spec.search is not None or not isinstance(spec.seeds, (int, list)):
            return None
        seeds = spec.seeds if isinstance(spec.seeds, int) else len(spec.seeds)
        recorded = [task_of(cell.settings).summary_metrics for cell in cells]
        metric = spec.tracking.keep_metric or grid_keep_metric(task_of(study.base), recorded)
        return cls(metric, seeds, Counter(cell.group for cell in cells))

    def may_be_kept(self, cell: str, metrics: dict[str, float]) -> bool:
        """Record a finished run of `cell`; False only when no run still to come can make it the kept one."""
        value = metrics.get(self.metric)
        if value is None or not math.isfinite(value):
            return True  # not judged here: the study's end decides
        own = self.values.setdefault(cell, [])
        beaten = any(self.sign * v > self.sign * value for v in own)
        own.append(value)
        if beaten:
            return False  # its cell's best seed is another run
        if cell not in self.whole:
            return True
        best_case = self.sign * statistics.fmean(own + [self.ideal] * (self.seeds - len(own)))  # as best_run
        return not best_case < self.best_finished(cell)

    def best_finished(self, but: str) -> float:
        """The best mean (signed: larger is better) of the other cells with every seed finished here."""
        means = [
            self.sign * statistics.fmean(v)
            for cell, v in self.values.items()
            if cell != but and cell in self.whole and len(v) == self.seeds
        ]
        return max(means, default=-math.inf)
