"""The pruning callback of a search's trial (study/execution/trial_pruning.py): what it reports at each eval
point, alone and as the last of several seeds (the mean over every seed's curve), and when it stops."""

from __future__ import annotations

import pytest

from study.execution.trial_pruning import TrialPruner


class Trial:
    """What the callback uses of an Optuna trial: report and should_prune."""

    def __init__(self, prune_at: int | None = None):
        self.reports: dict[int, float] = {}
        self.prune_at = prune_at

    def report(self, value: float, step: int) -> None:
        self.reports[step] = value

    def should_prune(self) -> bool:
        return self.prune_at is not None and max(self.reports) >= self.prune_at


def feed(pruner: TrialPruner, curve: dict[int, float]) -> None:
    for step, value in curve.items():
        pruner.on_epoch_end(0, {"step": step, "test_acc": value})
        if pruner.stop_training:
            return


def test_one_seed_reports_its_best_so_far():
    trial = Trial()
    feed(TrialPruner(trial, "best_test_acc", "maximize", 30), {0: 0.1, 10: 0.5, 20: 0.4, 30: 0.6})
    assert trial.reports == {0: 0.1, 10: 0.5, 20: 0.5, 30: 0.6}


def test_the_last_seed_reports_the_mean_over_every_seeds_curve_at_each_step():
    trial = Trial()
    earlier = [{0: 0.1, 10: 0.7, 20: 0.6, 30: 0.8}, {0: 0.1, 10: 0.3}]  # the second seed stopped early at 10
    feed(TrialPruner(trial, "best_test_acc", "maximize", 30, earlier), {0: 0.1, 10: 0.5, 20: 0.4, 30: 0.6})
    assert trial.reports == pytest.approx({0: 0.1, 10: 0.5, 20: (0.7 + 0.3 + 0.5) / 3, 30: (0.8 + 0.3 + 0.6) / 3})


def test_a_final_metric_is_the_curve_itself_and_pruning_stops_before_the_last_step_only():
    trial = Trial(prune_at=10)
    pruner = TrialPruner(trial, "final_test_acc", "maximize", 30, [{0: 0.2, 10: 0.1, 20: 0.4}])
    feed(pruner, {0: 0.4, 10: 0.3, 20: 0.2, 30: 0.1})
    assert trial.reports == pytest.approx({0: 0.3, 10: 0.2}) and pruner.stop_training
    last = Trial(prune_at=30)
    feed(TrialPruner(last, "final_test_acc", "maximize", 30), {0: 0.4, 30: 0.1})
    assert last.reports == {0: 0.4, 30: 0.1}  # reported, but at the last step there is nothing to save
