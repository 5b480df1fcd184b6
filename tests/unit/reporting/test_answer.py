"""The report's Answer block on hand-built studies whose numbers are known (tests/support/handbuilt.py):
at most three sentences — best cell and cells that do not learn, learning speed, cost — each with its
evidence level, checked against SciPy's Welch interval."""

from __future__ import annotations

import pytest

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


def test_the_evidence_is_the_findings_own_comparisons(toy):
    """Each of the best cell's levels, judged as the Findings judge it (study.analysis.effects): never a
    verdict the effects table does not hold."""
    from study.analysis.effects import decided_effects

    effects = decided_effects(toy.per_run, toy.study.axes, toy.metric)
    score = answer(toy)[0]
    assert ", ahead of relu · he (0.900 ± 0.050); with 2 seeds, its activation relu " in score  # one toy seed failed
    (row,) = [
        r
        for r in effects.itertuples()
        if {r.better, r.worse} == {"relu", "sigmoid"} and r.within in ("overall", "initializer=gauss(0.01)")
    ]
    claim = "beats sigmoid beyond seed noise" if row.verdict == "resolved" else "is within noise of sigmoid"
    assert f"its activation relu {claim}" in score


def test_a_cell_at_chance_does_not_learn_and_never_reaches_the_speed_bar(toy):
    score, speed = answer(toy)[:2]
    assert "sigmoid · gauss(0.01) does not learn: 0.105 after 30 iterations, chance level" in score  # seed 2 failed
    assert "first, after 20 iterations (" in speed  # every seed at 0.94-0.96 by iteration 20
    assert "relu · he, 27, with 3 seeds" in speed  # its seeds reach 0.846 at iterations 30, 20 and 30
    assert speed.endswith("and sigmoid · he and sigmoid · gauss(0.01) never do.")


def test_one_seed_per_cell_is_indicative_only(hand_store):
    score = answer(context(hand_store, "bn"))[0]
    assert "one seed per cell, so indicative only" in score
