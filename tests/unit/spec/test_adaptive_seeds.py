"""`seeds: {min, max, until: resolved, budget, compare}` (study/spec/adaptive.py): read, its first round, bad
values refused in one line naming the key, the value and what is valid; counts and lists as before."""

from __future__ import annotations

import pytest

from study.check.validated_study import load_study, study_from_dict
from study.errors import ConfigError
from study.plan.grid import expand
from study.plan.seed_rounds import seed_plan
from study.spec.adaptive import AdaptiveSeeds
from tests.support.searches import good

GOOD = """\
study: probe
base:
  data: {name: mnist, train_size: 500, test_size: 200}
  model: {hidden: [20], initializer: he}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 60, batch_size: 50, eval_every: 10}
grid:
  model.activation: [sigmoid, relu]
"""


def test_an_adaptive_design_is_read_and_its_first_round_is_min_seeds(write_study):
    study = load_study(write_study(GOOD + "seeds: {min: 3, max: 8, until: resolved, budget: 12}\n"))
    assert study.spec.adaptive == AdaptiveSeeds(min=3, max=8, budget=12)
    assert study.spec.seed_list == [0, 1, 2] and study.spec.most_seeds == 8
    assert [c.name for c in expand(study)][:3] == ["sigmoid · seed 0", "sigmoid · seed 1", "sigmoid · seed 2"]


def test_defaults_are_min_2_max_10_overall(write_study):
    adaptive = load_study(write_study(GOOD + "seeds: {}\n")).spec.adaptive
    assert (adaptive.min, adaptive.max, adaptive.until, adaptive.budget, adaptive.compare) == (
        2,
        10,
        "resolved",
        None,
        "overall",
    )


def test_counts_and_lists_work_as_before(write_study):
    assert load_study(write_study(GOOD + "seeds: 3\n")).spec.seed_list == [0, 1, 2]
    assert load_study(write_study(GOOD + "seeds: [7, 3]\n")).spec.seed_list == [7, 3]
    assert load_study(write_study(GOOD + "seeds: 3\n")).spec.adaptive is None


def test_the_seed_plan_holds_the_cells_and_hashes_of_a_fixed_seeds_max(write_study):
    adaptive = load_study(write_study(GOOD + "seeds: {min: 2, max: 4}\n"))
    fixed = load_study(write_study(GOOD + "seeds: 4\n", "fixed.yaml"))
    plan = seed_plan(adaptive, adaptive.spec.adaptive)
    assert {c.config_hash for c in plan.cells.values()} == {c.config_hash for c in expand(fixed)}
    assert plan.metric == "final_test_acc" and plan.groups == ["sigmoid", "relu"]


@pytest.mark.parametrize(
    ("seeds", "message"),
    [
        ("{min: 1}", "seeds: min: 1 is not valid (valid: 2 to 1,000 seeds)"),
        ("{min: 2, max: 5000}", "seeds: max: 5000 is not valid (valid: 2 to 1,000 seeds)"),
        ("{min: 4, max: 3}", "seeds: max (3) is below min (4)"),
        ("{until: forever}", "seeds: until: 'forever' is not valid (valid: resolved)"),
        ("{compare: both}", "seeds: compare: 'both' is not valid (valid: overall, within)"),
        ("{budget: 0}", "seeds: budget: 0 is not valid (valid: 1 to 100,000 runs)"),
        ("{mx: 5}", "seeds: mx: unknown key 'mx' (valid keys here: min, max, until, budget, compare)"),
    ],
)
def test_bad_values_are_refused_in_one_line(write_study, seeds, message):
    with pytest.raises(ConfigError) as err:
        load_study(write_study(GOOD + f"seeds: {seeds}\n"))
    text = str(err.value)
    assert message in text and "\n" not in text and "study.yaml" in text


def test_a_budget_below_the_first_round_and_a_search_are_refused(write_study):
    study = load_study(write_study(GOOD + "seeds: {min: 3, budget: 5}\n"))
    with pytest.raises(ConfigError, match=r"seeds.budget: 5 runs cannot hold the first round \(2 cells × 3 seeds"):
        seed_plan(study, study.spec.adaptive)
    doc = good()
    doc["seeds"] = {"min": 2}
    with pytest.raises(ConfigError, match="adapts a grid's seeds; a search takes a count or list"):
        study_from_dict(doc, "s.yaml")


def test_the_dry_run_says_the_first_round_and_the_most_runs(write_study):
    from study.check.dry_run import dry_run

    study = load_study(write_study(GOOD + "seeds: {min: 2, max: 6}\n"))
    assert (dry_run(study).summary() or "").splitlines()[0] == (
        "2 cells × 2 seeds = 4 runs in the first round, then seeds in rounds up to 6 per cell (12 runs at most); "
        "every check of `study run` passed, nothing written"
    )


def test_the_dry_run_refuses_a_budget_below_the_first_round(write_study):
    from study.check.dry_run import dry_run

    with pytest.raises(ConfigError, match="seeds.budget: 3 runs cannot hold the first round"):
        dry_run(load_study(write_study(GOOD + "seeds: {budget: 3}\n")))
