"""A search's trials as the report reads them: the objectives, the trials frame, importances and figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from study.reporting.context import ReportFigure

WITHIN = 0.005  # "within half a point" of the best value, on a 0-1 accuracy scale


@dataclass
class SearchReport:
    """A search's trials and what the section shows of them."""

    name: str
    spec: dict[str, Any]  # the `search:` section (sampler, trials, metric, pruner, ...)
    objectives: list[tuple[str, bool]]  # (metric, maximize) per objective; one unless `search.metrics`
    trials: pd.DataFrame  # number, state, value (the first objective's), best_so_far, params..., run_ids, retry_of
    importances: dict[str, float] | None
    importance_note: str
    figures: list[tuple[ReportFigure, bytes]] = field(default_factory=list)

    @property
    def maximize(self) -> bool:
        return self.objectives[0][1]

    @property
    def several(self) -> bool:
        """Several objectives: the answer is a Pareto front, not one best trial."""
        return len(self.objectives) > 1

    @property
    def complete(self) -> pd.DataFrame:
        return self.trials[self.trials["state"] == "COMPLETE"]

    @property
    def best(self) -> pd.Series | None:
        done = self.complete
        if done.empty or self.several:
            return None
        return done.loc[done["value"].idxmax() if self.maximize else done["value"].idxmin()]

    def trials_to_within(self, target: float, margin: float = WITHIN) -> int | None:
        """How many trials (in trial order) the search used before one came within `margin` of `target`."""
        close = self.trials[(self.trials["state"] == "COMPLETE") & ((self.trials["value"] - target).abs() <= margin)]
        return None if close.empty else int(close["number"].min()) + 1
