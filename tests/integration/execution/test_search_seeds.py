"""Seeds in a search (issue 17, item 3): a trial trains one cell per seed and its value is their mean; the
report says what the intervals over seeds mean for a search. A real search of 2 trials x 2 seeds."""

from __future__ import annotations

import statistics

from study.store.contract import Tag
from tests.support.runs import Runs, cli_run
from tests.support.searches import optuna_trials, search_text


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
