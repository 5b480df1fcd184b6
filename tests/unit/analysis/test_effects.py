"""study.analysis.effects on per-run tables written here: the paired and Welch intervals are scipy's at the
simultaneous level, Bonferroni's adjustment is statsmodels', every verdict agrees with its interval, simple
effects only where the ANOVA resolves the interaction, a lower-is-better metric, one seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats
from statsmodels.stats.multitest import multipletests

from study.analysis.effects import Metric, decided_effects, level_effects
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


BOTH = frozenset({"activation", "hidden"})


def row(table: pd.DataFrame, axis: str, within: str) -> pd.Series:
    return table[(table["axis"] == axis) & (table["within"] == within)].iloc[0]


def test_simple_effects_are_scipys_paired_t_at_the_simultaneous_level():
    table = level_effects(per_run(VALUES), [ACT, HID], simple=BOTH)
    assert set(table["within"]) == {"hidden=[100, 50]", "hidden=[40, 20]", "activation=tanh", "activation=relu"}
    m = len(table)  # 4 comparisons: the family
    wide = row(table, "activation", "hidden=[100, 50]")
    relu, tanh = VALUES[("relu", "[100, 50]")], VALUES[("tanh", "[100, 50]")]
    expected = stats.ttest_rel(relu, tanh)
    ci = expected.confidence_interval(1 - 0.05 / m)
    assert (wide["better"], wide["worse"], wide["method"]) == ("relu", "tanh", "paired")
    assert wide["diff"] == pytest.approx(np.mean(relu) - np.mean(tanh))
    assert (wide["ci_lo"], wide["ci_hi"], wide["p"]) == pytest.approx((ci.low, ci.high, expected.pvalue))
    assert table["p_adj"].tolist() == pytest.approx(list(multipletests(table["p"], method="bonferroni")[1]))
    assert table.attrs["confidence"] == pytest.approx(1 - 0.05 / m)
    assert wide["verdict"] == "resolved" and row(table, "activation", "hidden=[40, 20]")["verdict"] == "within noise"


@given(
    st.lists(st.floats(0.80, 0.99), min_size=12, max_size=12),
    st.sampled_from([frozenset(), frozenset({"activation"}), BOTH]),
)
def test_a_verdict_never_contradicts_the_interval_beside_it(finals, simple):
    values = {key: finals[3 * i : 3 * i + 3] for i, key in enumerate(VALUES)}
    table = level_effects(per_run(values), [ACT, HID], simple=simple)
    for r in table.itertuples():
        excludes_zero = r.ci_lo > 0 or r.ci_hi < 0
        assert (r.verdict == "resolved") == excludes_zero or np.isclose(min(abs(r.ci_lo), abs(r.ci_hi)), 0), r


def test_overall_is_the_per_seed_average_over_the_other_axis():
    table = level_effects(per_run(VALUES), [ACT, HID])
    assert set(table["within"]) == {"overall"} and len(table) == 2  # no interaction named: main effects only
    overall = row(table, "activation", "overall")
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
    ci = stats.ttest_1samp(per_seed, 0.0).confidence_interval(1 - 0.05 / 2)
    assert overall["diff"] == pytest.approx(np.mean(per_seed))
    assert (overall["ci_lo"], overall["ci_hi"]) == pytest.approx((ci.low, ci.high))


def test_simple_effects_only_where_the_anova_resolves_the_interaction():
    from study.analysis.factors import anova, interacting_axes

    terms, _ = anova(per_run(VALUES), [ACT, HID])
    p = terms.set_index("term").loc["activation × hidden", "p"]
    decided = decided_effects(per_run(VALUES), [ACT, HID])
    assert interacting_axes(per_run(VALUES), [ACT, HID]) == (BOTH if p < 0.05 else frozenset())
    assert ("overall" in set(decided["within"])) == (p >= 0.05)
    flat = dict(VALUES)
    for width in ("[100, 50]", "[40, 20]"):  # relu exactly +0.014 over tanh at both widths: parallel lines
        flat[("relu", width)] = [v + 0.014 for v in VALUES[("tanh", width)]]
    assert interacting_axes(per_run(flat), [ACT, HID]) == frozenset()
    assert set(decided_effects(per_run(flat), [ACT, HID])["within"]) == {"overall"}


def test_welch_when_the_seeds_differ():
    seeds = {("relu", "[100, 50]"): [3, 4, 5], ("relu", "[40, 20]"): [3, 4, 5]}
    table = level_effects(per_run(VALUES, seeds), [ACT, HID], simple=frozenset({"activation"}))
    assert len(table) == 3  # activation within each width, hidden overall
    wide = row(table, "activation", "hidden=[100, 50]")
    expected = stats.ttest_ind(VALUES[("relu", "[100, 50]")], VALUES[("tanh", "[100, 50]")], equal_var=False)
    ci = expected.confidence_interval(1 - 0.05 / 3)
    assert wide["method"] == "Welch" and (wide["ci_lo"], wide["ci_hi"]) == pytest.approx((ci.low, ci.high))


def test_lower_is_better_flips_the_winner():
    table = level_effects(per_run(VALUES), [ACT, HID], Metric("test_mae", higher_is_better=False), simple=BOTH)
    wide = row(table, "activation", "hidden=[100, 50]")
    assert (wide["better"], wide["worse"]) == ("relu", "tanh")  # relu's lower error
    assert wide["diff"] < 0 and wide["ci_hi"] < 0 and wide["verdict"] == "resolved"


def test_one_seed_needs_replicates():
    one = {key: values[:1] for key, values in VALUES.items()}
    table = level_effects(per_run(one), [ACT, HID], simple=BOTH)
    assert set(table["verdict"]) == {"needs replicates"} and table["ci_lo"].isna().all()


def test_a_level_that_names_its_setting_is_not_named_twice():
    dropout = Axis("dropout", "model.dropout", ("dropout=0", "dropout=0.5"))
    runs = per_run(VALUES).assign(
        **{"axis.dropout": lambda f: np.where(f["axis.hidden"] == "[100, 50]", "dropout=0", "dropout=0.5")}
    )
    table = level_effects(runs, [ACT, dropout], simple=frozenset({"activation"}))
    assert set(table.loc[table["axis"] == "activation", "within"]) == {"dropout=0", "dropout=0.5"}
