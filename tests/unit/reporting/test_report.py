"""study.report against the hand-built store of tests/support/handbuilt.py: the files and figures of a report,
its findings, logging it to the parent, one-line errors, the pairwise comparisons, the ANOVA and the
per-layer diagnostics as the report shows them.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path

import numpy as np
import pytest

from study.analysis.factors import anova
from study.errors import StudyError
from study.reporting.write import write_report
from study.store.reader import find_experiment, find_parent, load_study_runs


@pytest.fixture(scope="module")
def reps_report(hand_store):
    """The reps study's report."""
    return write_report(
        "reps", out_dir=hand_store["root"] / "report-reps", tracking_uri=hand_store["uri"], log_to_parent=False
    )


@pytest.fixture(scope="module")
def toy_report(hand_store):
    """The toy study's report, written once (logged to its latest parent)."""
    out = hand_store["root"] / "report-toy"
    return write_report("toy", out_dir=out, tracking_uri=hand_store["uri"])


def test_report_files_and_embedded_figures(toy_report):
    out = toy_report.parent
    assert {p.name for p in out.iterdir()} >= {"report.html", "summary.csv", "runs.csv", "curves.csv", "figures"}
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert figures == [
        "heatmap_activation_x_initializer",
        "learning_curves",
        "test_accuracy_all_cells",
        "test_accuracy_final_stretch",
    ]
    text = toy_report.read_text(encoding="utf-8")
    assert text.count('<img src="data:image/png;base64,') == len(figures)
    assert not re.search(r"https?://", text)
    assert "<script" not in text and "@media print" in text
    assert "Activation × initializer on a toy task." in text
    assert "0.900 ± 0.050" in text  # relu · he: 0.90 ± 4.302653 · 0.02 / √3
    assert text.count("<td class=num>never</td>") == 3  # sigmoid · he to 90 %, sigmoid · gauss(0.01) to both
    assert "of the best cell's mean final test accuracy (0.940), one bar for every cell" in text
    summary_lines = (out / "summary.csv").read_text().splitlines()
    assert len(summary_lines) == 5 and summary_lines[1].startswith("1,relu · gauss(0.01),")
    assert (out / "curves.csv").read_text().startswith("run_id,cell,seed,metric,step,value")


def test_report_findings(toy_report):
    text = toy_report.read_text(encoding="utf-8")
    assert "Best cell: relu · gauss(0.01)" in text and "Worst cell: sigmoid · gauss(0.01)" in text
    stuck = r"Did not learn \(final test accuracy ≤ 0\.15.*: sigmoid · gauss\(0\.01\) \(0\.105 after 30 iterations\)"
    assert re.search(stuck, text)
    assert "Failed: sigmoid · gauss(0.01), seed 2: loss became NaN (iteration 20)." in text
    assert "No run: tanh · he · seed 0: worker process failed: boom." in text


def test_report_logged_to_parent(hand_store, toy_report):
    client = hand_store["client"]
    names = {a.path for a in client.list_artifacts(hand_store["second"], "report")}
    assert {"report/report.html", "report/summary.csv", "report/figures"} <= names
    assert len(client.list_artifacts(hand_store["second"], "report/figures")) == 4


def test_batch_norm_axis_and_single_seed(hand_store):
    report = write_report(
        "bn", out_dir=hand_store["root"] / "report-bn", tracking_uri=hand_store["uri"], log_to_parent=False
    )
    assert (report.parent / "figures" / "batch_norm_comparison.png").is_file()
    text = report.read_text(encoding="utf-8")
    assert "0.950<" in text and "0.950 ±" not in text  # one seed: the value alone
    assert not hand_store["client"].list_artifacts(hand_store["bn_parent"], "report")


@pytest.mark.parametrize(
    ("study", "run", "message"),
    [
        ("nope", None, r"'nope' is neither a study nor a parent run id in the MLflow store; studies: .*toy"),
        ("empty", None, r"study 'empty' has no runs yet"),
        ("broken", None, r"has no finished cells"),
        ("toy", "0123456789abcdef", r"no `study run` with id '0123456789abcdef'"),
    ],
)
def test_errors_are_one_line_study_errors(hand_store, tmp_path, study, run, message):
    with pytest.raises(StudyError, match=message) as caught:
        write_report(study, out_dir=tmp_path, parent_run_id=run, tracking_uri=hand_store["uri"])
    assert "\n" not in str(caught.value)


def test_missing_sqlite_store(tmp_path):
    with pytest.raises(StudyError, match="no MLflow store"):
        write_report("toy", tracking_uri=f"sqlite:///{tmp_path}/absent.db")


# ---------------------------------------------------------------------------- replicates and factors
# Hand values for `reps`: cell means 0.90, 0.89, 0.80, 0.11 (grand mean 0.675); variances of the
# seeds spread² · 0.00025.


def test_pairwise_comparison_of_the_top_cells(reps_context, reps_report):
    from study.analysis.statistics import compare_top

    _, per_run, summary = reps_context
    table = compare_top(per_run, summary).set_index("other")
    assert list(table.index) == ["relu · gauss(0.01)", "sigmoid · he"] and set(table["best"]) == {"relu · he"}
    noise = table.loc["relu · gauss(0.01)"]
    assert noise["diff"] == pytest.approx(0.01) and noise["dof"] == pytest.approx(100 / 17)
    assert noise["ci_lo"] == pytest.approx(-0.0288774, abs=1e-6) and noise["verdict"] == "within noise"
    resolved = table.loc["sigmoid · he"]  # equal variances 5e-5 each: se = 0.01, dof 8, t = 2.306004
    assert resolved["diff"] == pytest.approx(0.10) and resolved["dof"] == pytest.approx(8)
    assert (resolved["ci_lo"], resolved["ci_hi"]) == (
        pytest.approx(0.0769400, abs=1e-6),
        pytest.approx(0.1230600, abs=1e-6),
    )
    assert resolved["verdict"] == "resolved"
    text = reps_report.read_text(encoding="utf-8")
    assert "[-0.0289, +0.0489]" in text and "[+0.0769, +0.1231]" in text
    assert "within noise" in text and "<strong>resolved</strong>" in text


def test_summary_cis_with_five_seeds(reps_context, reps_report):
    _, _, summary = reps_context
    row = summary.set_index("cell").loc["relu · gauss(0.01)"]
    # sd = 2 · √0.00025 = 0.0316228; half-width = t(0.975, 4) 2.776445 · sd / √5
    assert row["n_seeds"] == 5 and row["final_test_acc_mean"] == pytest.approx(0.89)
    assert row["final_test_acc_ci"] == pytest.approx(2.776445 * 0.0316228 / math.sqrt(5), rel=1e-5)
    assert "0.890 ± 0.039" in reps_report.read_text(encoding="utf-8")


def test_anova_shares_by_hand(reps_context, reps_report):
    study, per_run, _ = reps_context
    table, balanced = anova(per_run, study.axes)
    table = table.set_index("term")
    # Balanced 2 × 2 × 5: SS_A = 20 · 0.22², SS_B = 20 · 0.175², SS_AB = 20 · 0.17²,
    # SS_residual = (1 + 4 + 1 + 0.25) · Σ NOISE² = 0.00625
    expected = {
        "activation": 0.968,
        "initializer": 0.6125,
        "activation × initializer": 0.578,
        "residual (between seeds)": 0.00625,
        "total": 2.16475,
    }
    assert balanced and list(table.index) == list(expected)
    for term, ss in expected.items():
        assert table.loc[term, "ss"] == pytest.approx(ss, rel=1e-9)
        assert table.loc[term, "share"] == pytest.approx(100 * ss / 2.16475, rel=1e-9)
    assert list(table["df"]) == [1, 1, 1, 16, 19]
    assert table.loc["activation", "f"] == pytest.approx(0.968 / (0.00625 / 16))  # 2478.08
    assert table.loc["activation", "p"] < 1e-15 and np.isnan(table.loc["total", "f"])
    text = reps_report.read_text(encoding="utf-8")
    assert "Variance explained" in text and "44.7 %" in text and "Approximate" not in text


# ---------------------------------------------------------------------------- diagnostics in the report


def test_gradient_ratio_column_and_diagnostic_figures(reps_context, reps_report):
    _, per_run, summary = reps_context
    vanishing = per_run[per_run["cell"] == "sigmoid · gauss(0.01)"].sort_values("seed")
    assert list(vanishing["grad_ratio"]) == pytest.approx([1e-4, 2e-4, 3e-4, 4e-4, 5e-4])
    row = summary.set_index("cell").loc["sigmoid · gauss(0.01)"]
    # sd of 1..5 · 1e-4 = 1.581139e-4; half-width 2.776445 · sd / √5 = 1.9632e-4
    assert row["grad_ratio_mean"] == pytest.approx(3e-4) and row["grad_ratio_ci"] == pytest.approx(1.9632e-4, rel=1e-4)
    figures = sorted(p.stem for p in (reps_report.parent / "figures").glob("*.png"))
    assert {"gradient_flow", "activation_saturation", "dead_units"} <= set(figures)
    text = reps_report.read_text(encoding="utf-8")
    assert "Grad ratio first/last" in text and "3.00e-04 ± 2.0e-04" in text and "5.00e-01" in text
    assert "smallest in sigmoid · gauss(0.01) (3.0e-04)" in text


def test_diagnostic_panels_only_where_the_rule_applies(hand_store, reps_context):
    from study.reporting.context import build_context
    from study.reporting.layer_figures import plotted_layers

    client = hand_store["client"]
    experiment = find_experiment(client, "reps")
    study = load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc", "act_*"))
    ctx = build_context(study)
    assert set(plotted_layers(ctx, "act_saturated", ("sigmoid", "tanh"))["cell"]) == {
        "sigmoid · he",
        "sigmoid · gauss(0.01)",
    }
    assert set(plotted_layers(ctx, "act_dead", ("relu",))["cell"]) == {"relu · he", "relu · gauss(0.01)"}


def test_no_diagnostics_no_gradient_figure_or_column(toy_report):
    text = toy_report.read_text(encoding="utf-8")
    assert "Grad ratio" not in text and "gradient_flow" not in text


def test_one_seed_asks_for_replicates(hand_store):
    report = write_report(
        "bn", out_dir=hand_store["root"] / "report-bn1", tracking_uri=hand_store["uri"], log_to_parent=False
    )
    text = report.read_text(encoding="utf-8")
    assert "Replicates are needed" in text and "seeds: 5" in text
    assert "Main effects" in text  # one axis of two levels: its main effect and a one-way ANOVA


def test_a_report_per_parent_run_and_latest(hand_store, tmp_path, monkeypatch):
    """reports/<study>/<parent>/ per parent run, never overwritten; `latest` follows the newest parent only."""
    monkeypatch.chdir(tmp_path)
    uri = hand_store["uri"]
    newest = write_report("toy", tracking_uri=uri, log_to_parent=False)
    assert newest == Path("reports/toy") / hand_store["second"] / "report.html"
    latest = tmp_path / "reports" / "toy" / "latest"
    assert latest.is_symlink() and (latest / "report.html").read_bytes() == newest.read_bytes()
    older = write_report("toy", parent_run_id=hand_store["first"], tracking_uri=uri, log_to_parent=False)
    assert older.parent.name == hand_store["first"] and newest.is_file()  # both kept
    assert os.readlink(latest) == hand_store["second"]  # an older parent's report does not move latest


def test_latest_is_a_copy_where_symlinks_fail(hand_store, tmp_path, monkeypatch):
    from study.reporting import write

    monkeypatch.chdir(tmp_path)

    def refuse(*args, **kwargs):
        raise OSError("symlinks not supported here")

    monkeypatch.setattr(write.os, "symlink", refuse)
    report = write_report("toy", tracking_uri=hand_store["uri"], log_to_parent=False)
    latest = tmp_path / "reports" / "toy" / "latest"
    assert latest.is_dir() and not latest.is_symlink()
    assert (latest / "report.html").read_bytes() == report.read_bytes()
    write_report("toy", tracking_uri=hand_store["uri"], log_to_parent=False)  # replaces the copy
    assert (latest / "figures").is_dir()
