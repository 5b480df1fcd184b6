"""The report's answers on studies whose answer is known: the student's tanh-vs-relu study of issue 19
(relu wins with the wider net only) and the reps study (activation and initializer both matter and
interact)."""

from __future__ import annotations

import pytest

from study.analysis.statistics import run_stats, summarize
from study.reporting.context import build_context
from study.reporting.effect_sentences import effect_sentences
from study.reporting.findings import findings
from study.reporting.write import write_report
from study.store.reader import find_experiment, find_parent, load_study_runs
from tests.support.student_store import build_student_store


@pytest.fixture(scope="module")
def student(tmp_path_factory, blank_db):
    root = tmp_path_factory.mktemp("student")
    uri = build_student_store(root, blank_db)
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    experiment = find_experiment(client, "student")
    study = load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc", "grad_norm/*"))
    return {"uri": uri, "root": root, "ctx": build_context(study)}


def test_relu_wins_only_with_the_wider_net(student):
    """The ANOVA resolves activation × hidden, so activation is compared within each width (and hidden within
    each activation): four comparisons, and no averaged sentence beside them."""
    lines = findings(student["ctx"])
    first = lines[0]
    assert first.startswith("activation: relu beats tanh only at hidden=[100, 50] (+0.0143, simultaneous 95 % CI [")
    assert "but not at hidden=[40, 20] (relu − tanh +0.0031, simultaneous 95 % CI [" in first
    assert not any(line.startswith("activation averaged over") for line in lines)
    assert any(line.startswith("Interaction activation × hidden: p ") for line in lines)


def test_the_numbers_in_the_sentences_are_scipys(student):
    """Paired t intervals at the simultaneous level of the four comparisons (Bonferroni: 1 − 0.05 / 4)."""
    from scipy import stats

    from tests.support.student_store import RELU_MINUS_TANH

    level = 1 - 0.05 / 4
    wide = stats.ttest_1samp(RELU_MINUS_TANH["[100, 50]"], 0.0).confidence_interval(level)
    narrow = stats.ttest_1samp(RELU_MINUS_TANH["[40, 20]"], 0.0).confidence_interval(level)
    text = " ".join(findings(student["ctx"]))
    assert f"[{wide.low:+.4f}, {wide.high:+.4f}]" in text and f"[{narrow.low:+.4f}, {narrow.high:+.4f}]" in text
    assert "the 4 comparisons (Bonferroni" in text


def test_gradient_diagnostics_explain(student):
    text = " ".join(findings(student["ctx"]))
    assert (
        "differs most by activation (tanh 0.05, relu 0.5; 10× apart): with tanh the gradient shrinks to 0.05×" in text
    )
    assert "resolved = the interval excludes 0" in text


def test_the_report_opens_with_the_findings(student):
    report = write_report("student", out_dir=student["root"] / "report", tracking_uri=student["uri"])
    text = report.read_text(encoding="utf-8")
    order = [text.index(h) for h in ("<h2>Findings", "<h2>Summary per cell", "<h2>What was run")]
    assert order == sorted(order)
    assert "relu beats tanh only at hidden=[100, 50]" in text
    assert "4 cells × 3 seeds = 12 runs" in text


def test_reps_both_axes_matter_and_interact(reps_context):
    study, per_run, _ = reps_context
    ctx = build_context(study)
    text = "\n".join(findings(ctx))
    # relu beats sigmoid at both initialisers: 0.10 (he) and 0.78 (gauss) apart, seeds paired
    assert "activation: relu beats sigmoid at initializer=he (+0.1000, simultaneous 95 % CI [+0.1000, +0.1000])" in text
    assert "Interaction activation × initializer: p < 0.0001," in text and "p = <" not in text
    assert summarize(run_stats(study), study.axes) is not None


def test_settings_in_effect_shown_and_inert_ones_folded(student):
    report = write_report("student", out_dir=student["root"] / "report-settings", tracking_uri=student["uri"])
    text = report.read_text(encoding="utf-8")
    shown, folded = text.split("<h2>Settings</h2>", 1)[1].split("<details>", 1)
    assert "<code>optimizer.name</code></td><td>adam</td>" in shown and "set by the study" in shown
    assert "<code>model.initializer</code></td><td>he</td>" in shown and "default" in shown
    assert "2 fixed settings that do nothing in these cells" in folded
    assert "<code>optimizer.rho</code>" in folded and "<code>model.init_std</code>" in folded
    assert "optimizer.rho" not in shown and "model.init_std" not in shown
    assert "Activation of every hidden layer." in shown  # the meaning, from the schema


def test_gradients_that_do_not_vanish_are_not_blamed(reps_context):
    from study.reporting.effect_sentences import effect_sentences

    study, _, _ = reps_context
    ctx = build_context(study)
    ctx.per_run["grad_ratio"] = ctx.per_run["axis.activation"].map({"relu": 1.4, "sigmoid": 4.3})
    text = " ".join(effect_sentences(ctx))
    assert "differs most by activation (relu 1.4, sigmoid 4.3; 3× apart); no level's gradient vanishes" in text
    assert "vanishing gradients do not explain the differences" in text


def one_axis_context(axis, finals: dict[str, list[float]], column: str):
    """What effect_sentences reads of a one-axis study whose level i ran seeds 0, 1, … with these finals."""
    from types import SimpleNamespace

    import pandas as pd

    from study.analysis.effects import Metric, level_effects

    per_run = pd.DataFrame(
        [
            {"cell": level, "seed": seed, "status": "FINISHED", axis.column: level, column: value}
            for level, values in finals.items()
            for seed, value in enumerate(values)
        ]
    )
    metric = Metric(column)
    effects = level_effects(per_run, [axis], metric)
    return SimpleNamespace(per_run=per_run, study=SimpleNamespace(axes=[axis]), metric=metric, effects=effects)


def test_a_study_of_one_axis_says_its_comparison_once_and_names_each_level_once():
    """`data.standardize: [false, true]`: levels labelled `standardize=True` are not named twice, and there is
    nothing to average over."""
    from study.store.reader import Axis

    axis = Axis("standardize", "data.standardize", ("standardize=False", "standardize=True"))
    finals = {"standardize=False": [0.90, 0.86, 0.93], "standardize=True": [0.97, 0.975, 0.972]}
    first = effect_sentences(one_axis_context(axis, finals, "final_val_acc"))[0]
    assert first.startswith("standardize: standardize=True ahead of standardize=False (+0.0757, simultaneous 95 % CI [")


def test_an_interval_two_seeds_cannot_bound_is_said_so_not_printed():
    """Two seeds a side and three comparisons: paired t intervals with one degree of freedom at the level
    1 − 0.05 / 3 reach far past ±1, which no difference of accuracies can; the sentence says the seeds do
    not bound it. An interval inside ±1 keeps its numbers."""
    from study.store.reader import Axis

    axis = Axis("lr", "optimizer.lr", ("lr=0.01", "lr=0.1", "lr=1"))
    finals = {"lr=0.01": [0.20, 0.90], "lr=0.1": [0.60, 0.61], "lr=1": [0.50, 0.52]}
    ctx = one_axis_context(axis, finals, "final_test_acc")
    effects = ctx.effects
    wide = effects[(effects["worse"] == "lr=0.01") | (effects["better"] == "lr=0.01")]
    assert (wide["ci_hi"] - wide["ci_lo"] > 2).all()  # the premise: wider than any accuracy difference
    narrow = effects.drop(wide.index).iloc[0]
    assert -1 < narrow["ci_lo"] < narrow["ci_hi"] < 1
    text = effect_sentences(ctx)[0]
    assert text.count("2 seeds a side do not bound it: simultaneous 95 % CI wider than ±1") == 1
    assert f"simultaneous 95 % CI [{narrow['ci_lo']:+.4f}, {narrow['ci_hi']:+.4f}]" in text
    assert not any(f"{value:+.4f}" in text for value in [*wide["ci_lo"], *wide["ci_hi"]])


def test_an_error_metric_keeps_its_interval_however_wide():
    import pandas as pd

    from study.analysis.effects import Metric
    from study.reporting.effect_sentences import _numbers

    row = pd.Series({"diff": -0.5, "ci_lo": -40.0, "ci_hi": 39.0, "n_better": 2, "n_worse": 2})
    assert _numbers(row, Metric("final_test_mae", higher_is_better=False)) == (
        "-0.5000, simultaneous 95 % CI [-40.0000, +39.0000]"
    )
    assert "do not bound it" in _numbers(row, Metric("final_test_acc"))
