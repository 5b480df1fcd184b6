"""The report's "Trained models" section on a table of runs where some runs hold no model tag at all
(a pruned trial's run: NaN in the runs table), without loading a model."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pandas as pd

from study.reporting.models_section import models_section
from study.spec.task import CLASSIFICATION
from study.store.models import model_id


def test_a_missing_or_refused_model_tag_is_no_model():
    assert model_id("models:/m-123") == "m-123"
    assert model_id(math.nan) is None and model_id(None) is None
    assert model_id("not kept: keep_model is best") is None


def test_the_section_lists_the_kept_models_beside_runs_without_a_model_tag():
    runs = pd.DataFrame(
        {
            "run_id": ["r0", "r1", "r2"],
            "cell": ["trial 0", "trial 1", "trial 2"],
            "seed": [0, 0, 0],
            "final_test_acc": [0.9, 0.8, 0.1],
            "model": ["models:/m-0", "not kept: keep_model is best", math.nan],  # trial 2 was pruned
        }
    )
    parent = SimpleNamespace(info=SimpleNamespace(experiment_id="7"), data=SimpleNamespace(tags={}))
    html = models_section(SimpleNamespace(study=SimpleNamespace(runs=runs, parent=parent), task=CLASSIFICATION))
    assert html.count("<tr><td>") == 1 and "models:/m-0" in html and "/#/experiments/7/models/m-0" in html
