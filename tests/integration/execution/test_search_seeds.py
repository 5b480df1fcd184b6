"""Seeds in a search (issue 17, item 3): a trial trains one cell per seed and its value is their mean; the
report says what the intervals over seeds mean for a search. A real search of 2 trials x 2 seeds."""

from __future__ import annotations

import statistics

from study.store.contract import Tag
from tests.support.runs import Runs, cli_run
from tests.support.searches import PRUNED, optuna_trials, search_text


def test_a_trial_over_seeds_is_one_run_per_seed_and_its_value_is_their_mean(project, write_study):
    path = write_study(search_text(2, 40) + "seeds: 2\n")
    assert cli_run(path) == 0
    trials = optuna_trials(project)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE"]
    runs = Runs(project, "searchy")
    assert runs.statuses() == {"FINISHED": 4}
    by_id = {r.info.run_id: r for r in runs.all()}
    for t in trials:
        ids = t.user_attrs["study.runs"]
        assert sorted(ids) == ["0", "1"]
        cells = [by_id[ids[s]] for s in ("0", "1")]
        assert [c.data.params["seed"] for c in cells] == ["0", "1"]
        assert {c.data.tags[Tag.TRIAL] for c in cells} == {str(t.number)}
        assert cells[0].data.tags[Tag.CONFIG_HASH] != cells[1].data.tags[Tag.CONFIG_HASH]
        values = [c.data.metrics["best_test_acc"] for c in cells]
        assert t.value == statistics.fmean(values)

    from study.reporting.write import write_report

    text = write_report("searchy").read_text(encoding="utf-8")
    assert "Each trial trained 2 seeds. The intervals of the tables below are over one configuration" in text
    assert "biased upwards" in text


def test_pruning_over_seeds_decides_on_the_mean_of_every_seeds_curve(project, write_study):
    """lr=1e-6 queued after a good trial, two seeds: its first seed runs to the end, its last is stopped at
    the first eval point where the mean of both seeds' best-so-far is below the good trial's."""
    from study.check.validated_study import load_study
    from study.execution.datasets import dataset_digest
    from study.execution.trials import SearchJob, first_point, open_search
    from study.plan.space import search_identity, search_space, trial_cells

    text = PRUNED.replace("iterations: 100", "iterations: 30").replace("trials: 3", "trials: 2")
    path = write_study(text.replace("startup_trials: 2", "startup_trials: 1") + "seeds: 2\n")
    study = load_study(path)
    params = search_space(study)
    digest = dataset_digest(study, trial_cells(study, params, 0, first_point(params)))
    uri = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    ostudy = open_search(SearchJob(study, [], "", "", uri, digest, f"pruning-{search_identity(study, digest)}"))
    for lr in (0.1, 1e-6):
        ostudy.enqueue_trial({"lr": lr})
    assert cli_run(path) == 0
    trials = optuna_trials(project)
    assert [t.state.name for t in trials] == ["COMPLETE", "PRUNED"]
    bad, runs = trials[1], Runs(project, "pruning")
    good = [runs.client.get_run(r).data.metrics["best_test_acc"] for r in trials[0].user_attrs["study.runs"].values()]
    assert trials[0].user_attrs["study.spread"] == {"best_test_acc": statistics.stdev(good)}
    first, last = (runs.client.get_run(bad.user_attrs["study.runs"][s]) for s in ("0", "1"))
    assert first.info.status == "FINISHED" and runs.steps(first.info.run_id, "test_acc") == [0, 10, 20, 30]
    assert last.info.status == "KILLED" and last.data.tags[Tag.PRUNED_AT] == "10"
    history = [runs.client.get_metric_history(r.info.run_id, "test_acc") for r in (first, last)]
    best = [max(m.value for m in h if m.step <= 10) for h in history]
    assert bad.intermediate_values[10] == statistics.fmean(best)
