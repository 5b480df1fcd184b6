"""Early stopping at eval points (`train.early_stopping`): off by default, the course's protocol being a
fixed number of iterations.

The engine trains in chunks of several eval periods; after each chunk it asks the stopper
whether the metric stopped improving at one of the chunk's eval points. The cell then ends
there: its records, summary and `iterations` stop at that eval point (the weights trained past
it, up to the chunk's end, are not the cell's and are not reported), and the run is tagged with
the iteration (contract `Tag.STOPPED_AT`).
"""

from __future__ import annotations

from study.spec.settings import Settings
from study.spec.task import Task


class EarlyStopper:
    """Counts eval points without an improvement of `min_delta` in `metric`; stops after `patience`."""

    def __init__(self, metric: str, patience: int, min_delta: float, higher_is_better: bool):
        self.metric, self.patience, self.min_delta = metric, patience, min_delta
        self.higher_is_better = higher_is_better
        self.best: float | None = None
        self.waited = 0

    @classmethod
    def of(cls, settings: Settings, task: Task) -> EarlyStopper | None:
        """The stopper of a cell's settings, or None when early stopping is off."""
        rule = settings.train.early_stopping
        if rule is None:
            return None
        if rule.metric not in task.eval_metrics:
            raise ValueError(
                f"train.early_stopping.metric: {rule.metric!r} is not recorded at eval points of a "
                f"{task.kind} cell (valid: {', '.join(task.eval_metrics)})"
            )
        higher = rule.metric.endswith("_acc")
        return cls(rule.metric, rule.patience, rule.min_delta, higher)

    def improved(self, value: float) -> bool:
        """Whether `value` beats the best so far by more than min_delta."""
        if self.best is None:
            return True
        gain = value - self.best if self.higher_is_better else self.best - value
        return gain > self.min_delta

    def check(self, records) -> int | None:
        """The iteration of the eval point in `records` where training should stop, or None."""
        for step, value in zip(records.eval_steps.tolist(), records.evals[self.metric].tolist()):
            if self.improved(value):
                self.best, self.waited = value, 0
            else:
                self.waited += 1
                if self.waited >= self.patience:
                    return int(step)
        return None
