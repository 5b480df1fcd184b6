"""A conditional search end to end (study/plan/conditions.py through study/execution/trials.py): a setting
that takes no effect is not sampled, its runs say n/a, and the search ends when every point that differs
in effect is trained (the flat space would train points identical in effect twice)."""

from __future__ import annotations

from tests.support.runs import Runs, cli_run
from tests.support.searches import optuna_trials, search_text

SPACE = """\
    optimizer.name: {choice: [sgd, momentum]}
    optimizer.momentum: {choice: [0.5, 0.9]}
"""


def test_a_setting_that_takes_no_effect_is_not_sampled_and_the_space_of_effects_ends_the_search(project, write_study):
    text = search_text(5, iterations=20).split("    optimizer.lr:")[0] + SPACE
    assert cli_run(write_study(text)) == 0  # 4 points flat, 3 that differ in effect, a budget of 5
    trials = optuna_trials(project)
    trained = [t for t in trials if "study.repeat" not in t.user_attrs]
    assert sorted((t.params["name"], t.params.get("momentum")) for t in trained) == [
        ("momentum", 0.5),
        ("momentum", 0.9),
        ("sgd", None),
    ]
    assert all("momentum" not in t.params for t in trials if t.params["name"] == "sgd")
    runs = Runs(project, "searchy").all()
    assert len(runs) == 3  # each point that differs in effect trained once
    (sgd,) = [r for r in runs if r.data.params["optimizer.name"] == "sgd"]
    assert sgd.data.params["momentum"] == "n/a" and sgd.info.run_name.endswith("· sgd · seed 0")
