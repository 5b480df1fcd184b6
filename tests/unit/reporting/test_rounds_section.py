"""The report of adaptive seeds (study/reporting/rounds_section.py) on the hand-built `reps` study's numbers
(2 × 2, five seeds, known accuracies, tests/support/handbuilt.py): its rounds are decided here by the real
procedure, written as rounds.json records, and the section and the Answer's evidence read them back."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from study.analysis.effects import Metric
from study.plan.seed_rounds import decision_record
from study.plan.sequential import Design, decide, family, start_seeds
from study.reporting.answer import evidence_for
from study.reporting.rounds_section import rounds_section
from study.store.reader import Axis
from tests.support.handbuilt import NOISE, REPS_CELLS


class RecordPlan:
    """What decision_record reads of a SeedPlan."""

    design = Design(2, 5)
    metric = "final_test_acc"


AXES = [
    Axis("activation", "model.activation", ("relu", "sigmoid")),
    Axis("initializer", "model.initializer", ("he", "gauss(0.01)")),
]


def rounds_of() -> list[dict]:
    """The rounds the design (min 2, max 5) takes on the reps study's final accuracies."""
    labels = {f"{a} · {i}": {"activation": a, "initializer": i} for a, i in REPS_CELLS}
    values = {f"{a} · {i}": np.array([m + s * n for n in NOISE]) for (a, i), (m, s) in REPS_CELLS.items()}
    fam, design = family(labels), RecordPlan.design
    seeds, records = start_seeds(list(labels), design), []
    while True:
        decision = decide(fam, values, seeds, design)
        records.append(decision_record(len(records) + 1, decision, RecordPlan))  # type: ignore[arg-type]
        if decision.done:
            return records
        seeds = decision.next_seeds


def context(rounds: list[dict] | None):
    """What the section and the Answer's evidence read of a ReportContext."""
    return SimpleNamespace(rounds=rounds, metric=Metric(), study=SimpleNamespace(axes=AXES))


def test_the_section_gives_each_comparison_its_seeds_and_verdict_and_each_cell_its_seeds():
    records = rounds_of()
    html = rounds_section(context(records))
    last = records[-1]
    assert "Seeds decided by the study" in html
    activation = next(c for c in last["comparisons"] if c["axis"] == "activation")
    assert activation["verdict"] == "resolved" and activation["diff"] > 0  # relu − sigmoid: 0.395 on average
    took = activation["resolved_at"]
    assert f"<td>relu − sigmoid</td><td class=num>+{activation['diff']:.4f}</td>" in html
    assert f"<td class=num>{took}</td><td><strong>resolved</strong></td>" in html
    total = sum(last["seeds"].values())
    assert f"{len(records)} rounds, {total} runs, where a fixed seeds: 5 takes 20" in html
    for cell, n in last["seeds"].items():
        assert f"<td>{cell}</td><td class=num>{n}</td>" in html
    assert rounds_section(context(None)) == ""  # a fixed design has no such section


def test_the_answer_states_the_anytime_valid_evidence():
    records = rounds_of()
    best = pd.Series({"axis.activation": "relu", "axis.initializer": "he", "n_seeds": 5})
    line = evidence_for(context(records), best)  # type: ignore[arg-type]
    assert records[-1]["seeds"] == dict.fromkeys(records[-1]["seeds"], 4)  # both comparisons read every cell
    assert line.startswith("with seeds added until resolved (4 per cell, 16 runs in 3 rounds)")
    assert "its activation relu beats sigmoid beyond seed noise" in line
    assert line.endswith("(anytime-valid 95 % confidence sequences)")
