"""Pruning a search's trials: Optuna's pruner for `search.pruner`, and the engine callback that reports a
trial's objective at each eval point and stops its training when Optuna says prune.

With several seeds the seeds before the last run to the end and the last one's callback reports the mean
over every seed's curve at each eval point: the decision is made on the trial's value, exactly, at the cost
of pruning only the last seed's training.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from study.engine.callbacks import EngineCallback
from study.execution.cell import CellResult, settle
from study.plan.grid import Cell
from study.spec.search import SearchConfig
from study.store.runs import Store


def pruner_for(search: SearchConfig):
    """Optuna's pruner for `search.pruner`; iterations are Optuna's steps."""
    import optuna

    if search.pruner == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=search.startup_trials, n_warmup_steps=search.warmup_iterations
        )
    if search.pruner == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=search.warmup_iterations or "auto")
    return optuna.pruners.NopPruner()


class TrialPruner(EngineCallback):
    """Reports the objective's curve to the trial at each eval point and stops training when Optuna prunes it.

    `best_test_acc` is reported as the best test accuracy so far, `final_<split>_<score>` as that curve. With
    `earlier` (the curves, by step, of the trial's seeds trained before this one, the last) the value reported
    is the mean over every seed at that step: the trial's value, as it will be, at each eval point.
    """

    def __init__(self, trial, metric: str, goal: str, iterations: int, earlier: Sequence[dict[int, float]] = ()):
        kind, self.curve = metric.split("_", 1)
        self.running = (max if goal == "maximize" else min) if kind == "best" else None
        self.trial, self.iterations = trial, iterations
        self.earlier = [self.so_far(curve) for curve in earlier]
        self.value: float | None = None

    def so_far(self, curve: dict[int, float]) -> dict[int, float]:
        """A seed's objective at each of its steps: the curve, or its best so far for a `best_*` metric."""
        out: dict[int, float] = {}
        value: float | None = None
        for step in sorted(curve):
            value = curve[step] if self.running is None or value is None else self.running(value, curve[step])
            out[step] = value
        return out

    def on_epoch_end(self, epoch, logs=None) -> None:
        value = float(logs[self.curve])
        self.value = value if self.running is None or self.value is None else self.running(self.value, value)
        step = logs["step"]
        others = [at(curve, step) for curve in self.earlier]
        self.trial.report(statistics.fmean([self.value, *(v for v in others if v is not None)]), step)
        if step < self.iterations and self.trial.should_prune():  # at the end there is nothing to save
            self.stop_training = True


def at(curve: dict[int, float], step: int) -> float | None:
    """A seed's value at `step`, or at its last step before it (a seed stopped early keeps its last)."""
    before = [s for s in curve if s <= step]
    return curve[max(before)] if before else None


def pruners(search: SearchConfig, store: Store, trial, cell: Cell, earlier: list[CellResult], writer) -> list:
    """The pruner of a trial's last seed (the seeds before it run to the end): it reports the mean over every
    seed's curve at each eval point, so the pruner decides on the trial's value, not on one seed's."""
    if search.pruner == "none":
        return []
    curve = search.metric.split("_", 1)[1]
    settle(writer)  # the earlier seeds' histories are in the store
    curves = [
        {m.step: m.value for m in store.client.get_metric_history(str(r.run_id), curve)} for r in earlier if r.run_id
    ]
    return [TrialPruner(trial, search.metric, search.goal, cell.settings.train.iterations, curves)]
