"""A search with several objectives end to end (study/execution/search_results.py): Optuna is told each
objective's value, the Pareto front's runs are tagged in MLflow and keep their models, the others do not."""

from __future__ import annotations

from study.store.contract import Tag
from tests.support.runs import Runs, cli_run
from tests.support.searches import optuna_trials, search_text

OBJECTIVES = "  metrics: [{best_test_acc: max}, {wall_time_s: min}]\ntracking: {keep_model: best}\n"


def dominated(values: list[float], others: list[list[float]]) -> bool:
    """Whether another trial is at least as good on both (accuracy up, time down) and better on one."""
    return any(o[0] >= values[0] and o[1] <= values[1] and o != values for o in others)


def test_a_two_objective_search_tags_its_pareto_front_and_keeps_only_the_fronts_models(project, write_study):
    text = search_text(4, iterations=20).replace("  params:", OBJECTIVES.split("\n")[0] + "\n  params:")
    assert cli_run(write_study(text + OBJECTIVES.split("\n", 1)[1])) == 0
    trials = optuna_trials(project)
    runs = {r.info.run_id: r for r in Runs(project, "searchy").all()}
    values = {}
    for t in trials:
        (run_id,) = t.user_attrs["study.runs"].values()
        metrics = runs[run_id].data.metrics
        assert t.values == [metrics["best_test_acc"], metrics["wall_time_s"]]
        values[run_id] = t.values
    front = {r for r, v in values.items() if not dominated(v, list(values.values()))}
    assert front and {r for r, run in runs.items() if run.data.tags.get(Tag.PARETO_FRONT) == "true"} == front
    kept = {r for r, run in runs.items() if run.data.tags.get(Tag.MODEL, "").startswith("models:/")}
    assert kept == front
    best = max(front, key=lambda r: values[r][0])  # the front's best by the first objective names the kept model
    parent = Runs(project, "searchy").latest_parent().data.tags
    assert (
        parent[Tag.BEST_MODEL] == runs[best].data.tags[Tag.MODEL] and parent[Tag.BEST_MODEL_METRIC] == "best_test_acc"
    )
