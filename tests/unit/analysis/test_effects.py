"""study.analysis.effects on per-run tables written here: the paired and Welch intervals are scipy's,
Holm's adjustment is statsmodels', the direction of a lower-is-better metric, one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from statsmodels.stats.multitest import multipletests

from study.analysis.effects import Metric, level_effects
from study.store.reader import Axis

ACT = Axis("activation", "model.activation", ("tanh", "relu"))
HID = Axis("hidden", "model.hidden", ("[100, 50]", "[40, 20]"))


def per_run(values: dict[tuple[str, str], list[float]], seeds: dict | None = None) -> pd.DataFrame:
    """One finished run per (activation, hidden, seed) with the given final test accuracy."""
    rows = []
    for (act, hid), finals in values.items():
        for i, value in enumerate(finals):
            seed = (seeds or {}).get((act, hid), range(len(finals)))[i]
            rows.append(
                {
                    "cell": f"{act} · {hid}",
                    "seed": seed,
                    "status": "FINISHED",
                    "axis.activation": act,
                    "axis.hidden": hid,
                    "final_test_acc": value,
                    "test_mae": 1 - value,
                }
            )
    return pd.DataFrame(rows)


VALUES = {
    ("tanh", "[100, 50]"): [0.900, 0.905, 0.898],
    ("relu", "[100, 50]"): [0.914, 0.920, 0.9119],
    ("tanh", "[40, 20]"): [0.895, 0.890, 0.899],
    ("relu", "[40, 20]"): [0.896, 0.896, 0.9013],
}


def test_paired_by_seed_is_scipys_ttest_rel_and_holm_is_statsmodels():
    table = level_effects(per_run(VALUES), [ACT, HID])
    wide = table[(table["axis"] == "activation") & (table["within"] == "hidden=[100, 50]")].iloc[0]
    relu, tanh = VALUES[("relu", "[100, 50]")], VALUES[("tanh", "[100, 50]")]
    expected = stats.ttest_rel(relu, tanh)
    ci = expected.confidence_interval(0.95)
    assert (wide["better"], wide["worse"], wide["method"]) == ("relu", "tanh", "paired")
    assert wide["diff"] == pytest.approx(np.mean(relu) - np.mean(tanh))
    assert (wide["ci_lo"], wide["ci_hi"], wide["p"]) == pytest.approx((ci.low, ci.high, expected.pvalue))
    assert table["p_adj"].tolist() == pytest.approx(list(multipletests(table["p"], method="holm")[1]))
    assert wide["verdict"] == "resolved"
    narrow = table[(table["axis"] == "activation") & (table["within"] == "hidden=[40, 20]")].iloc[0]
    assert narrow["verdict"] == "within noise"
    assert set(table["within"]) == {
        "hidden=[100, 50]",
        "hidden=[40, 20]",
        "activation=tanh",
        "activation=relu",
        "overall",
    }


def test_overall_is_the_per_seed_average_over_the_other_axis():
    table = level_effects(per_run(VALUES), [ACT, HID])
    overall = table[(table["axis"] == "activation") & (table["within"] == "overall")].iloc[0]
    per_seed = [
        (
            VALUES[("relu", "[100, 50]")][s]
            - VALUES[("tanh", "[100, 50]")][s]
            + VALUES[("relu", "[40, 20]")][s]
            - VALUES[("tanh", "[40, 20]")][s]
        )
        / 2
        for s in range(3)
    ]
    ci = stats.ttest_1samp(per_seed, 0.0).confidence_interval(0.95)
    assert overall["diff"] == pytest.approx(np.mean(per_seed))
    assert (overall["ci_lo"], overall["ci_hi"]) == pytest.approx((ci.low, ci.high))


def test_welch_when_the_seeds_differ():
    seeds = {("relu", "[100, 50]"): [3, 4, 5], ("relu", "[40, 20]"): [3, 4, 5]}
    table = level_effects(per_run(VALUES, seeds), [ACT, HID])
    wide = table[(table["axis"] == "activation") & (table["within"] == "hidden=[100, 50]")].iloc[0]
    expected = stats.ttest_ind(VALUES[("relu", "[100, 50]")], VALUES[("tanh", "[100, 50]")], equal_var=False)
    ci = expected.confidence_interval(0.95)
    assert wide["method"] == "Welch" and (wide["ci_lo"], wide["ci_hi"]) == pytest.approx((ci.low, ci.high))


def test_lower_is_better_flips_the_winner():
    table = level_effects(per_run(VALUES), [ACT, HID], Metric("test_mae", higher_is_better=False))
    wide = table[(table["axis"] == "activation") & (table["within"] == "hidden=[100, 50]")].iloc[0]
    assert (wide["better"], wide["worse"]) == ("relu", "tanh")  # relu's lower error
    assert wide["diff"] < 0 and wide["ci_hi"] < 0 and wide["verdict"] == "resolved"


def test_one_seed_needs_replicates():
    one = {key: values[:1] for key, values in VALUES.items()}
    table = level_effects(per_run(one), [ACT, HID])
    assert set(table["verdict"]) == {"needs replicates"} and table["ci_lo"].isna().all()
