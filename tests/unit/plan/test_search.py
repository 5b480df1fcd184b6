"""The `search:` section (study/plan/space.py): parsing, one-line refusals, Optuna distributions, trials as
cells, `sampler: grid` as the equivalent grid, and the search's identity."""

from __future__ import annotations

import json

import pytest

from study.check.validated_study import load_study, study_from_dict
from study.errors import ConfigError
from study.plan.grid import config_hash, expand
from study.plan.space import describe_space, distributions, search_identity, search_space, space_size, trial_cells
from study.spec.strict import MAX_RUNS
from tests.support.searches import BAD_SEARCH, good


def test_a_search_study_reads_into_its_space():
    study = study_from_dict(good(), "s.yaml")
    params = search_space(study)
    assert [(p.key, p.name, p.kind) for p in params] == [
        ("optimizer.lr", "lr", "loguniform"),
        ("model.hidden.depth", "depth", "int"),
        ("model.hidden.width", "width", "choice"),
        ("model.activation", "activation", "choice"),
    ]
    dists = distributions(params)
    assert dists["lr"].log and (dists["lr"].low, dists["lr"].high) == (0.01, 0.5)
    assert (dists["depth"].low, dists["depth"].high, dists["depth"].step) == (1, 3, 1)
    assert dists["activation"].choices == ("relu", "tanh")
    assert study.spec.search.goal == "maximize" and study.spec.search.sampler == "tpe"


def test_a_trial_becomes_one_named_hashed_cell_per_seed():
    doc = good()
    doc["seeds"] = 2
    study = study_from_dict(doc, "s.yaml")
    cells = trial_cells(study, search_space(study), 7, {"lr": 0.0031234, "depth": 3, "width": 32, "activation": "tanh"})
    assert [c.name for c in cells] == [
        "trial 7 · lr=0.00312 · depth=3 · width=32 · tanh · seed 0",
        "trial 7 · lr=0.00312 · depth=3 · width=32 · tanh · seed 1",
    ]
    assert [c.index for c in cells] == [14, 15]
    s = cells[0].settings
    assert s.model.hidden == [32, 32, 32] and s.optimizer.lr == 0.0031234 and s.model.activation == "tanh"
    assert cells[0].config_hash == config_hash(s, 0) != cells[1].config_hash
    assert cells[0].labels == {"lr": "lr=0.00312", "depth": "depth=3", "width": "width=32", "activation": "tanh"}


def test_bundle_and_list_choices_reach_optuna_as_texts_and_come_back_as_values():
    doc = good()
    doc["search"]["params"] = {
        "net": {
            "choice": [
                {"label": "sigmoid+xavier", "model.activation": "sigmoid", "model.initializer": "xavier"},
                {"label": "relu+he", "model.activation": "relu", "model.initializer": "he"},
            ]
        },
        "model.hidden": {"choice": [[40, 20], [100]]},
    }
    study = study_from_dict(doc, "s.yaml")
    params = search_space(study)
    dists = distributions(params)
    assert dists["net"].choices == ("sigmoid+xavier", "relu+he")
    assert dists["hidden"].choices == ("[40,20]", "[100]")
    (cell,) = trial_cells(study, params, 0, {"net": "relu+he", "hidden": "[100]"})
    assert cell.settings.model.activation == "relu" and cell.settings.model.hidden == [100]
    assert cell.group == "trial 0 · relu+he · 100"


def test_sampler_grid_is_the_equivalent_grid():
    doc = good()
    doc["search"]["params"]["optimizer.lr"] = {"choice": [0.1, 0.3]}
    doc["search"]["sampler"] = "grid"
    del doc["search"]["trials"]
    study = study_from_dict(doc, "s.yaml")
    assert study.spec.search is None
    cells = expand(study)
    assert len(cells) == 2 * 3 * 2 * 2
    assert {tuple(c.settings.model.hidden) for c in cells} == {(16,), (32,), (16, 16), (32, 32), (16,) * 3, (32,) * 3}
    space = study_from_dict(good() | {"search": {**doc["search"], "sampler": "tpe", "trials": 3}}, "s.yaml")
    assert space_size(search_space(space)) == len(cells)


def test_the_budget_and_the_pruner_do_not_change_a_searchs_identity_the_space_does():
    base = study_from_dict(good(), "s.yaml")
    doc = good()
    doc["search"].update(trials=60, pruner="median", startup_trials=2)
    assert search_identity(study_from_dict(doc, "s.yaml"), "d") == search_identity(base, "d")
    doc["search"]["params"]["optimizer.lr"] = {"loguniform": [0.01, 0.4]}
    assert search_identity(study_from_dict(doc, "s.yaml"), "d") != search_identity(base, "d")
    assert search_identity(base, "other data") != search_identity(base, "d")


def test_dry_run_text_names_budget_objective_and_dimensions():
    text = describe_space(study_from_dict(good(), "s.yaml"))
    assert (
        text.splitlines()[0]
        == "search: 6 trials x 1 seed(s), sampler tpe (seed 0), maximize best_test_acc, pruner none"
    )
    assert "lr           loguniform [0.01, 0.5]" in text and "activation   choice     relu, tanh" in text


def test_set_overrides_reach_the_search_and_searched_keys_are_guarded(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text(json.dumps(good()), encoding="utf-8")
    study = load_study(path, ["search.trials=9", "search.params.optimizer.lr={loguniform: [0.001, 0.1]}"])
    assert study.spec.search.trials == 9
    assert study.spec.search.params["optimizer.lr"] == {"loguniform": [0.001, 0.1]}
    with pytest.raises(ConfigError, match=r"'model.activation' is searched; .*search.params.model.activation"):
        load_study(path, ["model.activation=relu"])


@pytest.mark.parametrize("case", BAD_SEARCH, ids=BAD_SEARCH)
def test_bad_search_entries_are_refused_in_one_line(case):
    change, needle = BAD_SEARCH[case]
    doc = good()
    change(doc)
    with pytest.raises(ConfigError) as info:
        study_from_dict(doc, "bad.yaml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("bad.yaml: ") and needle in message, message


@pytest.mark.parametrize(
    ("entries", "needle"),
    [
        ({"train.batch_size": {"int": [1, 10**9]}}, "1,000,000,000 values for sampler grid"),
        (
            {"train.batch_size": {"int": [1, 1000]}, "model.l2": {"choice": [i / 1000 for i in range(101)]}},
            "101,000 points",
        ),
    ],
)
def test_a_sampler_grid_past_the_run_limit_is_refused_before_it_is_listed(entries, needle):
    doc = good()
    doc["search"] = {"sampler": "grid", "params": entries}
    with pytest.raises(ConfigError) as refused:
        study_from_dict(doc, "s.yaml")
    (line,) = str(refused.value).splitlines()
    assert needle in line and f"{MAX_RUNS:,} runs one study may hold" in line


def test_the_train_test_gap_is_an_objective_to_minimise_computed_from_a_cells_metrics():
    from study.spec.search import objective_value

    doc = good()
    doc["search"]["metrics"] = [{"best_test_acc": "max"}, {"train_test_gap": "min"}]
    assert study_from_dict(doc, "s.yaml").spec.search.objectives[1] == ("train_test_gap", "minimize")
    doc["search"]["metrics"][1] = {"train_test_gap": "max"}
    with pytest.raises(ConfigError, match="train_test_gap: max would look for the worst trials"):
        study_from_dict(doc, "s.yaml")
    assert objective_value("train_test_gap", {"final_train_acc": 0.75, "final_test_acc": 0.5}) == 0.25
    assert objective_value("train_test_gap", {"final_train_mae": 1.0, "final_test_mae": 1.5}) == 0.5
