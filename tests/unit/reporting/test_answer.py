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


def test_an_axis_whose_levels_learn_at_different_speeds_is_a_finding():
    """Batch norm after the activation reaching 90 % in 100-150 iterations, off in 400-500 (one run never):
    the digits study's clearest effect, said in the Findings."""
    from types import SimpleNamespace

    import pandas as pd

    from study.reporting.findings import _speed_findings
    from study.store.reader import Axis

    axes = [Axis("batch_norm", "model.batch_norm", ("BN off", "BN after")), Axis("act", "model.activation", ("s", "r"))]
    rows = [
        ("BN off", "s", 500.0),
        ("BN off", "s", None),
        ("BN off", "r", 400.0),
        ("BN after", "s", 150.0),
        ("BN after", "s", 100.0),
        ("BN after", "r", 120.0),
    ]
    per_run = pd.DataFrame(
        [{"status": "FINISHED", "axis.batch_norm": b, "axis.act": a, "iters_to_90pct": v} for b, a, v in rows]
    )
    (line,) = _speed_findings(SimpleNamespace(per_run=per_run, study=SimpleNamespace(axes=axes)))
    assert line == (
        "Learning speed by batch_norm: mean iterations to 90 % of the best cell's final test accuracy — BN after "
        "123, BN off 450 (1 run never) (3.6× apart, averaged over the other axes)."
    )
