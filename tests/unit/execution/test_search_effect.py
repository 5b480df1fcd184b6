"""A search cell's effective hash (study/execution/trials.py): equal for cells that differ only in settings
that take no effect, so a trial identical in effect reuses the earlier run; the config hash tells them apart."""

from __future__ import annotations

from study.check.validated_study import study_from_dict
from study.execution.trials import effective_hash
from study.plan.space import search_space, trial_cells
from tests.support.searches import good


def test_cells_that_differ_only_in_an_inert_setting_share_their_effective_hash():
    doc = good()
    doc["search"]["params"] = {
        "optimizer.name": {"choice": ["sgd", "momentum"]},
        "optimizer.momentum": {"choice": [0.5, 0.9]},
    }
    doc["search"]["conditional"] = False  # a flat space samples momentum for sgd too
    study = study_from_dict(doc, "s.yaml")
    params = search_space(study)
    (sgd_a,) = trial_cells(study, params, 0, {"name": "sgd", "momentum": 0.5})
    (sgd_b,) = trial_cells(study, params, 1, {"name": "sgd", "momentum": 0.9})
    (mom_a,) = trial_cells(study, params, 2, {"name": "momentum", "momentum": 0.5})
    (mom_b,) = trial_cells(study, params, 3, {"name": "momentum", "momentum": 0.9})
    assert sgd_a.config_hash != sgd_b.config_hash and effective_hash(sgd_a) == effective_hash(sgd_b)
    assert effective_hash(mom_a) != effective_hash(mom_b) != effective_hash(sgd_a)
