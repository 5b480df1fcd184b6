"""The report's Answer block on hand-built studies whose numbers are known (tests/support/handbuilt.py):
at most three sentences — best cell and cells that do not learn, learning speed, cost — each with its
evidence level, checked against SciPy's Welch interval."""

from __future__ import annotations

import pytest
from scipy import stats

from study.reporting.answer import answer
from study.reporting.context import build_context
from study.store.reader import find_experiment, find_parent, load_study_runs


def context(hand_store, name: str):
    client = hand_store["client"]
    experiment = find_experiment(client, name)
    return build_context(load_study_runs(client, experiment, find_parent(client, experiment)))


@pytest.fixture(scope="module")
def toy(hand_store):
    return context(hand_store, "toy")


def test_at_most_three_sentences_score_speed_cost(toy):
    lines = answer(toy)
    assert len(lines) == 3
    assert lines[0].startswith("relu · gauss(0.01) is best: final test accuracy 0.940 ± ")
    assert lines[1].startswith("Learning speed: relu · gauss(0.01) reaches 90 % of the best cell's final test ")
    assert lines[2].startswith("Cost: ")


def test_the_lead_is_judged_by_welchs_interval(toy):
    best, runner = [0.93, 0.94, 0.95], [0.90, 0.92, 0.88]  # final test accuracies of the two best cells
    ci = stats.ttest_ind(best, runner, equal_var=False).confidence_interval(0.95)
    verdict = "resolved" if ci.low > 0 else "within seed noise"
    expected = f"ahead of relu · he (0.900 ± {stats.t.ppf(0.975, 2) * stats.tstd(runner) / 3**0.5:.3f}): {verdict} "
    assert expected + f"with 3 seeds (95 % CI of the difference [{ci.low:+.4f}, {ci.high:+.4f}])" in answer(toy)[0]


def test_a_cell_at_chance_does_not_learn_and_never_reaches_the_speed_bar(toy):
    score, speed = answer(toy)[:2]
    assert "sigmoid · gauss(0.01) does not learn: 0.105 after 30 iterations, chance level" in score  # seed 2 failed
    assert "first, after 20 iterations (" in speed  # every seed at 0.94-0.96 by iteration 20
    assert "relu · he, 27, with 3 seeds" in speed  # its seeds reach 0.846 at iterations 30, 20 and 30
    assert speed.endswith("and sigmoid · he and sigmoid · gauss(0.01) never do.")


def test_one_seed_per_cell_is_indicative_only(hand_store):
    score = answer(context(hand_store, "bn"))[0]
    assert "one seed per cell, so indicative only" in score
