"""Conditional search spaces (study/plan/conditions.py): deciders derived from the relevance rules, sampled
first; a parameter that takes no effect is not sampled, keeps the base's value and reads n/a; `when:`."""

from __future__ import annotations

from study.check.validated_study import study_from_dict
from study.plan.conditions import derive
from study.plan.space import (
    NOT_SAMPLED,
    describe_space,
    probe_cells,
    search_identity,
    search_space,
    space_size,
    trial_cells,
)
from tests.support.searches import good

SPACE = {
    "optimizer.momentum": {"choice": [0.5, 0.9]},  # written before what decides it
    "optimizer.name": {"choice": ["sgd", "momentum", "adam"]},
    "optimizer.lr": {"choice": [0.01, 0.1]},
    "model.dropout": {"choice": [0.0, 0.2]},
    "model.hidden": {"choice": [[], [32], [32, 32]]},
}


def conditional_study(**search):
    doc = good()
    doc["search"]["params"] = {**SPACE, **search.pop("params", {})}
    doc["search"].update(search)
    return study_from_dict(doc, "s.yaml")


def test_the_deciders_are_derived_from_the_relevance_rules_and_sampled_first():
    study = conditional_study()
    space = derive(study, search_space(study))
    assert space.conditions() == {"momentum": ["name"], "dropout": ["hidden"]}
    order = [p.name for p in space.order]
    assert order.index("name") < order.index("momentum") and order.index("hidden") < order.index("dropout")


def test_a_trial_samples_only_what_takes_effect_and_the_rest_keeps_the_base_value():
    study = conditional_study()
    space = derive(study, search_space(study))
    picks = {"name": "adam", "lr": 0.1, "hidden": "[]", "momentum": 0.5, "dropout": 0.2}
    sampled = space.sampled(lambda p: picks[p.name])
    assert sampled == {"name": "adam", "lr": 0.1, "hidden": "[]"}  # no momentum for adam, no dropout without layers
    (cell,) = trial_cells(study, search_space(study), 3, sampled)
    assert cell.group == "trial 3 · adam · lr=0.1 · no hidden"
    assert cell.labels["momentum"] == cell.labels["dropout"] == NOT_SAMPLED
    assert cell.settings.optimizer.momentum == study.base.optimizer.momentum
    assert cell.settings.model.dropout == study.base.model.dropout
    with_momentum = space.sampled(lambda p: {**picks, "name": "momentum", "hidden": "[32]"}[p.name])
    assert set(with_momentum) == set(picks)


def test_the_derived_space_counts_only_points_that_differ_in_effect():
    study = conditional_study()
    space = derive(study, search_space(study))
    # sgd, adam: 2 lr x (no hidden + 2 widths x 2 dropouts) = 10 each; momentum: 2 momenta x 10 = 20
    assert space_size(space.params) == 72 and sum(1 for _ in space.points(1000)) == 40
    assert sum(1 for _ in space.points(7)) == 7  # counting stops at the limit


def test_the_corner_cells_of_a_conditional_space_differ_in_effect():
    study = conditional_study()
    cells = probe_cells(study, search_space(study))
    assert len({c.config_hash for c in cells}) == len(cells)
    assert all(c.labels["momentum"] == NOT_SAMPLED for c in cells if c.settings.optimizer.name != "momentum")


def test_when_samples_a_parameter_only_at_the_values_it_names():
    study = conditional_study(params={"model.l2": {"choice": [0.0, 0.01], "when": {"optimizer.name": ["adam"]}}})
    space = derive(study, search_space(study))
    assert space.conditions()["l2"] == ["name"]
    base = {"lr": 0.1, "hidden": "[32]", "momentum": 0.9, "dropout": 0.0, "l2": 0.01}
    assert "l2" not in space.sampled(lambda p: {**base, "name": "sgd"}[p.name])
    assert space.sampled(lambda p: {**base, "name": "adam"}[p.name])["l2"] == 0.01


def test_a_search_without_conditions_keeps_its_name_and_a_conditional_one_gets_another():
    flat = study_from_dict(good(), "s.yaml")
    doc = good()
    doc["search"]["conditional"] = False
    assert search_identity(flat, "d") == search_identity(study_from_dict(doc, "s.yaml"), "d")
    assert search_identity(conditional_study(), "d") != search_identity(conditional_study(conditional=False), "d")


def test_the_dry_run_shows_the_conditions_and_the_size_in_effect():
    text = describe_space(conditional_study(metrics=[{"best_test_acc": "max"}, {"wall_time_s": "min"}]))
    assert "maximize best_test_acc, minimize wall_time_s" in text
    assert "space: 40 points that differ in effect (72 flat)" in text
    lines = text.splitlines()
    name = next(i for i, line in enumerate(lines) if line.split()[0] == "name")
    momentum = next(i for i, line in enumerate(lines) if line.split()[0] == "momentum")
    assert name < momentum and lines[momentum].endswith("(sampled where it takes effect: on name)")
