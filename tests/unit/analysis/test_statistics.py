"""study.analysis.statistics and study.analysis.factors against hand-computed values: per-run statistics and
per-cell means with their confidence intervals on the hand-built store (tests/support/handbuilt.py), Welch intervals, main effects,
interactions and an unbalanced ANOVA."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from study.analysis.factors import anova, interaction_table, main_effects
from study.analysis.statistics import welch_interval
from study.store.reader import FINISHED, Axis
from tests.support.handbuilt import NOISE, WALL_TIMES, expected_mean_ci


def test_per_run_statistics(toy_summary):
    _, per_run, _ = toy_summary
    row = per_run[(per_run["cell"] == "relu · he") & (per_run["seed"] == 2)].iloc[0]
    assert row["final_test_acc"] == pytest.approx(0.88) and row["best_test_acc"] == pytest.approx(0.88)
    assert row["gap"] == pytest.approx(0.05)
    assert (row["iters_to_50pct"], row["iters_to_90pct"]) == (20, 30)  # 0.47 and 0.846: of relu · gauss's 0.94
    stuck = per_run[(per_run["cell"] == "sigmoid · gauss(0.01)") & (per_run["status"] == FINISHED)]
    assert stuck["iters_to_50pct"].isna().all()  # at chance: never, not "at once" (a fraction of its own 0.11)
    failed = per_run[per_run["status"] == "FAILED"].iloc[0]
    assert (failed["failure"], failed["failure_step"], failed["diverged_step"]) == ("loss became NaN", 20, 20)


def test_summary_means_cis_and_order(toy_summary):
    _, _, summary = toy_summary
    assert list(summary["cell"]) == ["relu · gauss(0.01)", "relu · he", "sigmoid · he", "sigmoid · gauss(0.01)"]
    assert list(summary["rank"]) == [1, 2, 3, 4]
    cells = summary.set_index("cell")
    relu_he = cells.loc["relu · he"]
    for stat, values in {
        "final_test_acc": [0.90, 0.92, 0.88],
        "iters_to_50pct": [10, 10, 20],
        "iters_to_90pct": [30, 20, 30],
        "wall_time_s": WALL_TIMES,
    }.items():
        mean, ci = expected_mean_ci(values)
        assert relu_he[f"{stat}_mean"] == pytest.approx(mean) and relu_he[f"{stat}_ci"] == pytest.approx(ci, rel=1e-5)
    assert cells.loc["relu · gauss(0.01)", "best_test_acc_mean"] == pytest.approx((0.95 + 0.96 + 0.95) / 3)
    assert cells.loc["relu · gauss(0.01)", "iters_to_90pct_reached"] == 3
    slow = cells.loc["sigmoid · he"]  # finals 0.70, 0.72, 0.68: 50 % of the bar at 20, 20, 20; 90 % never
    assert (slow["iters_to_50pct_mean"], slow["iters_to_50pct_reached"]) == (20, 3)
    assert np.isnan(slow["iters_to_90pct_mean"]) and slow["iters_to_90pct_reached"] == 0
    stuck = cells.loc["sigmoid · gauss(0.01)"]
    assert np.isnan(stuck["iters_to_50pct_mean"]) and stuck["iters_to_50pct_reached"] == 0
    mean, ci = expected_mean_ci([0.11, 0.10])  # the FAILED seed does not count
    assert (stuck["n_seeds"], stuck["n_runs"]) == (2, 3)
    assert stuck["final_test_acc_mean"] == pytest.approx(mean)
    assert stuck["final_test_acc_ci"] == pytest.approx(ci, rel=1e-5)


# ---------------------------------------------------------------------------- replicates and factors
# Hand values for `reps`: cell means 0.90, 0.89, 0.80, 0.11 (grand mean 0.675); variances of the
# seeds spread² · 0.00025.


def test_welch_interval_by_hand():
    relu_he = [0.90 + n for n in NOISE]
    relu_gauss = [0.89 + 2 * n for n in NOISE]
    diff, lo, hi, dof = welch_interval(relu_he, relu_gauss)
    # se² = 0.00025/5 + 0.001/5 = 0.00025; dof = se⁴ / ((5e-5)²/4 + (2e-4)²/4) = 100/17;
    # t(0.975, 100/17) = 2.458824 (t table, interpolated)
    assert diff == pytest.approx(0.01)
    assert dof == pytest.approx(100 / 17)
    assert (lo, hi) == (
        pytest.approx(0.01 - 2.458824 * 0.0158114, abs=1e-6),
        pytest.approx(0.01 + 2.458824 * 0.0158114, abs=1e-6),
    )
    diff, lo, hi, dof = welch_interval([1.0, 2.0], [0.5])
    assert diff == 1.0 and np.isnan(lo) and np.isnan(dof)  # one value: no interval


def test_main_effects_and_interactions(reps_context):
    study, per_run, _ = reps_context
    effects = main_effects(per_run, study.axes).set_index(["axis", "level"])
    expected = {
        ("activation", "relu"): 0.895,
        ("activation", "sigmoid"): 0.455,
        ("initializer", "he"): 0.85,
        ("initializer", "gauss(0.01)"): 0.50,
    }
    for key, mean in expected.items():
        assert effects.loc[key, "mean"] == pytest.approx(mean)
        assert effects.loc[key, "effect"] == pytest.approx(mean - 0.675)
        assert (effects.loc[key, "n_cells"], effects.loc[key, "n_runs"]) == (2, 10)
    activation, initializer = study.axes
    table = interaction_table(per_run, study.axes, activation, initializer).set_index(["activation", "initializer"])
    assert table.loc[("relu", "he"), "mean"] == pytest.approx(0.90)
    # 0.90 − 0.895 − 0.85 + 0.675 = −0.17, and ±0.17 around the table
    assert table.loc[("relu", "he"), "interaction"] == pytest.approx(-0.17)
    assert table.loc[("sigmoid", "he"), "interaction"] == pytest.approx(0.17)


def test_main_effects_use_cell_means_and_unbalanced_anova_is_flagged():
    a, b = Axis("a", "model.a", ("a1", "a2")), Axis("b", "model.b", ("b1", "b2"))
    rows = [("a1", "b1", 1.0)] * 4 + [("a1", "b2", 0.0), ("a2", "b1", 0.5), ("a2", "b2", 0.5), ("a2", "b2", 0.7)]
    per_run = pd.DataFrame(
        [{"cell": f"{x} · {y}", "status": FINISHED, "axis.a": x, "axis.b": y, "final_test_acc": v} for x, y, v in rows]
    )
    effects = main_effects(per_run, [a, b]).set_index("level")
    assert effects.loc["a1", "mean"] == pytest.approx(0.5)  # run-weighted it would be 0.8
    assert effects.loc["a2", "mean"] == pytest.approx(0.55) and effects.loc["a1", "n_runs"] == 5
    table, balanced = anova(per_run, [a, b])
    assert not balanced
    parts = table[table["term"] != "total"]
    assert parts["ss"].sum() == pytest.approx(table.set_index("term").loc["total", "ss"])  # sequential SS add up
