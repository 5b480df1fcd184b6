"""Tests for study.store.reader, study.analysis.statistics and study.report against a hand-built
MLflow store in tmp.

The store follows docs/store-layout.md: study `toy` has activation × initializer × 3 seeds with
hand-chosen test accuracies (one cell stuck at chance, one of its seeds FAILED), logged under a
first parent without a manifest; a second, later parent skipped every cell and lists the same
runs in its `cells.json`. Study `bn` has a batch-norm axis and one seed per cell. Study `reps`
is a balanced 2 × 2 grid with 5 seeds whose final accuracies are cell mean + spread × noise,
with per-layer diagnostics, so the Welch intervals, the factor tables and the ANOVA have
values known by hand.
"""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from study.analysis.statistics import (
    anova,
    interaction_table,
    main_effects,
    run_stats,
    summarize,
    welch_interval,
)
from study.errors import StudyError
from study.report.write import write_report
from study.store.reader import (
    FINISHED,
    Axis,
    find_experiment,
    find_parent,
    load_study_runs,
)

EVAL_STEPS = [0, 10, 20, 30]
T_975 = {1: 12.706205, 2: 4.302653}  # Student t quantiles, 0.975, by degrees of freedom
TOY_CELLS = {  # (activation, initializer): (train − test offset, test accuracy per seed at EVAL_STEPS)
    ("relu", "he"): (0.05, [[0.10, 0.50, 0.80, 0.90], [0.10, 0.60, 0.85, 0.92], [0.10, 0.40, 0.70, 0.88]]),
    ("relu", "gauss(0.01)"): (0.03, [[0.10, 0.70, 0.95, 0.93], [0.10, 0.80, 0.96, 0.94], [0.10, 0.75, 0.94, 0.95]]),
    ("sigmoid", "he"): (0.02, [[0.10, 0.30, 0.60, 0.70], [0.10, 0.35, 0.65, 0.72], [0.10, 0.25, 0.55, 0.68]]),
    ("sigmoid", "gauss(0.01)"): (0.0, [[0.10, 0.11, 0.10, 0.11], [0.10, 0.09, 0.10, 0.10], [0.10, 0.10, 0.10]]),
}
FAILED = (("sigmoid", "gauss(0.01)"), 2)  # this cell × seed diverges at iteration 20
WALL_TIMES = [10.0, 11.0, 12.0]  # seed s takes 10 + s seconds

# Study `reps`: final test accuracy of seed s = cell mean + spread × NOISE[s] (NOISE sums to 0,
# so each cell's mean is exact and its variance is spread² · 0.00025).
NOISE = [-0.02, -0.01, 0.0, 0.01, 0.02]
REPS_CELLS = {("relu", "he"): (0.90, 1.0), ("relu", "gauss(0.01)"): (0.89, 2.0),
              ("sigmoid", "he"): (0.80, 1.0), ("sigmoid", "gauss(0.01)"): (0.11, 0.5)}
REPS_LAYERS = ("dense_1", "dense_2", "dense_3")


def cell_name(*values: str) -> str:
    """The readable cell name the writer uses."""
    return " · ".join(values)


def log_cell(client, experiment_id, parent_id, axes: dict[str, str], seed, test_acc, offset, failed=False,
             extra: tuple[list[Metric], dict[str, str]] = ([], {})) -> str:
    """Log one child run (tags, params, curves, summary or failure) the way study/store/ does;
    `extra` adds metrics and params."""
    cell = cell_name(*axes.values())
    tags = {
        "mlflow.parentRunId": parent_id,
        "study.role": "cell",
        "study.name": "toy",
        "study.cell": cell,
        "study.seed": str(seed),
        "study.config_hash": f"{seed:016x}",
        "study.axes": json.dumps([f"model.{k}" for k in axes]),
        "study.dataset": "mnist",
        "study.dataset_digest": "abc123",
        **{f"axis.{k}": v for k, v in axes.items()},
    }
    run = client.create_run(experiment_id, run_name=f"{cell} · seed {seed}", tags=tags)
    params = {**{f"model.{k}": v for k, v in axes.items()}, **axes}
    params |= {"optimizer.lr": "0.1", "train.iterations": "30", "train.seed": str(seed), **extra[1]}
    steps = EVAL_STEPS[: len(test_acc)]
    losses = [float("nan") if failed and s == 20 else 1.0 / s for s in range(1, steps[-1] + 1)]
    metrics = [Metric("train_loss", loss, 0, s) for s, loss in enumerate(losses, start=1)] + extra[0]
    for step, acc in zip(steps, test_acc):
        values = {"test_acc": acc, "train_acc": acc + offset, "test_loss": 2.0 - acc}
        metrics += [Metric(k, v, 0, step) for k, v in values.items()]
    if failed:
        tags = [RunTag("study.failure", "loss became NaN"), RunTag("study.failure_step", "20")]
    else:
        final = {"final_test_acc": test_acc[-1], "best_test_acc": max(test_acc), "final_test_loss": 2.0 - test_acc[-1]}
        final |= {"final_train_acc": test_acc[-1] + offset, "wall_time_s": 10.0 + seed}
        metrics += [Metric(k, v, 0, steps[-1]) for k, v in final.items()]
        tags = []
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()], tags=tags)
    client.set_terminated(run.info.run_id, "FAILED" if failed else "FINISHED")
    return run.info.run_id


def start_parent(client, experiment_id, name: str, axes: list[str]) -> str:
    """Create a parent run with the contract's tags."""
    tags = {"study.role": "parent", "study.name": name, "study.axes": json.dumps(axes)}
    tags |= {"study.config_file": f"{name}.yaml", "study.versions.keras": "3.3.3", "study.versions.study": "0.1.0"}
    return client.create_run(experiment_id, run_name=f"{name} run", tags=tags).info.run_id


def finish_parent(client, parent_id: str, manifest: list[dict] | None, tmp_path) -> None:
    """Log the parent's wall time and, if given, its cells.json, and end it."""
    client.log_metric(parent_id, "wall_time_s", 50.0)
    if manifest is not None:
        path = tmp_path / "cells.json"
        path.write_text(json.dumps(manifest))
        client.log_artifact(parent_id, str(path))
    client.set_terminated(parent_id, "FINISHED")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """The tracking URI and ids of the toy, bn, empty and all-failed studies."""
    root = tmp_path_factory.mktemp("store")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)

    def create(name: str, **kwargs) -> str:
        return client.create_experiment(name, artifact_location=str(root / "artifacts" / name), **kwargs)

    toy = create("toy", tags={"mlflow.note.content": "Activation × initializer on a toy task."})
    first = start_parent(client, toy, "toy", ["model.activation", "model.initializer"])
    manifest = []
    for (activation, initializer), (offset, seeds) in TOY_CELLS.items():
        for seed, test_acc in enumerate(seeds):
            failed = FAILED == ((activation, initializer), seed)
            axes = {"activation": activation, "initializer": initializer}
            run_id = log_cell(client, toy, first, axes, seed, test_acc, offset, failed)
            name = f"{cell_name(activation, initializer)} · seed {seed}"
            manifest.append({"name": name, "seed": seed, "run_id": run_id, "status": "skipped", "failure": None})
    finish_parent(client, first, None, root)
    boom = "worker process failed: boom"  # a cell that failed before its run was created
    manifest.append({"name": "tanh · he · seed 0", "seed": 0, "run_id": None, "status": "failed", "failure": boom})
    second = start_parent(client, toy, "toy", ["model.activation", "model.initializer"])
    finish_parent(client, second, manifest, root)

    bn = create("bn")
    bn_parent = start_parent(client, bn, "bn", ["model.batch_norm"])
    for flag, accs in (("true", [0.1, 0.8, 0.9, 0.95]), ("false", [0.1, 0.5, 0.7, 0.8])):
        log_cell(client, bn, bn_parent, {"batch_norm": flag}, 0, accs, 0.01)
    finish_parent(client, bn_parent, None, root)

    reps = create("reps")
    reps_parent = start_parent(client, reps, "reps", ["model.activation", "model.initializer"])
    for (activation, initializer), (mean, spread) in REPS_CELLS.items():
        for seed, noise in enumerate(NOISE):
            final = mean + spread * noise
            axes = {"activation": activation, "initializer": initializer}
            extra = (diagnostics(activation, initializer, seed), {"model.hidden": "[40,20]"})
            log_cell(client, reps, reps_parent, axes, seed, [0.10, 0.50, final, final], 0.01, extra=extra)
    finish_parent(client, reps_parent, None, root)

    create("empty")
    broken = create("broken")
    broken_parent = start_parent(client, broken, "broken", ["model.activation"])
    log_cell(client, broken, broken_parent, {"activation": "relu"}, 0, [0.1, 0.1], 0.0, failed=True)
    finish_parent(client, broken_parent, None, root)
    return {"uri": uri, "client": client, "first": first, "second": second, "bn_parent": bn_parent, "root": root}


def diagnostics(activation: str, initializer: str, seed: int) -> list[Metric]:
    """Per-layer metrics at steps 10, 20, 30: the gradient of dense_1 is (1 + seed)·1e-4 of the output
    layer's in sigmoid · gauss(0.01), half of it elsewhere; saturation/dead fractions as the engine
    logs them (0 where the rule does not apply)."""
    first = (1 + seed) * 1e-4 if (activation, initializer) == ("sigmoid", "gauss(0.01)") else 0.5
    metrics = []
    for step in (10, 20, 30):
        norms = {"dense_1": first, "dense_2": (first + 1) / 2, "dense_3": 1.0}
        metrics += [Metric(f"grad_norm/{layer}", value, 0, step) for layer, value in norms.items()]
        for k in (1, 2):
            saturated = 0.1 * k * step / 30 if activation == "sigmoid" else 0.0
            dead = 0.05 * k if activation == "relu" else 0.0
            metrics += [Metric(f"act_saturated/act_{k}", saturated, 0, step), Metric(f"act_dead/act_{k}", dead, 0, step)]
    return metrics


@pytest.fixture(scope="module")
def reps_context(store):
    """The reps study's per-run table, summary and axes."""
    client = store["client"]
    experiment = find_experiment(client, "reps")
    study = load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc", "grad_norm/*"))
    per_run = run_stats(study)
    return study, per_run, summarize(per_run, study.axes)


@pytest.fixture(scope="module")
def reps_report(store):
    """The reps study's report."""
    return write_report("reps", out_dir=store["root"] / "report-reps", tracking_uri=store["uri"], log_to_parent=False)


@pytest.fixture(scope="module")
def toy_summary(store):
    """The toy study's per-run table and per-cell summary, read from the latest parent."""
    client = store["client"]
    experiment = find_experiment(client, "toy")
    study = load_study_runs(client, experiment, find_parent(client, experiment))
    per_run = run_stats(study)
    return study, per_run, summarize(per_run, study.axes)


@pytest.fixture(scope="module")
def toy_report(store):
    """The toy study's report, written once (logged to its latest parent)."""
    out = store["root"] / "report-toy"
    return write_report("toy", out_dir=out, tracking_uri=store["uri"])


def expected_mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95 % CI half-width by hand (Student t, n − 1 dof)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T_975[n - 1] * sd / math.sqrt(n)


def test_latest_parent_reads_manifest_runs_of_an_earlier_parent(store, toy_summary):
    study, per_run, _ = toy_summary
    assert study.parent.info.run_id == store["second"]
    assert len(per_run) == 12 and [e["name"] for e in study.unrun] == ["tanh · he · seed 0"]
    assert [a.short for a in study.axes] == ["activation", "initializer"]
    assert [a.key for a in study.axes] == ["model.activation", "model.initializer"]
    assert study.axes[1].levels == ("he", "gauss(0.01)")
    assert study.fixed == {"optimizer.lr": "0.1", "train.iterations": "30"}
    assert study.datasets == [("mnist", "abc123")] and study.versions == {"keras": "3.3.3", "study": "0.1.0"}
    assert study.wall_time_s == 50.0
    assert set(study.curves["metric"]) == {"train_loss", "train_acc", "test_acc", "test_loss"}
    assert len(study.curve("train_loss")) == 11 * 30 + 20


def test_explicit_parent_without_manifest_uses_nested_runs(store, toy_summary):
    client = store["client"]
    experiment = find_experiment(client, "toy")
    study = load_study_runs(client, experiment, find_parent(client, experiment, store["first"]))
    assert sorted(study.runs["run_id"]) == sorted(toy_summary[0].runs["run_id"])


def test_per_run_statistics(toy_summary):
    _, per_run, _ = toy_summary
    row = per_run[(per_run["cell"] == "relu · he") & (per_run["seed"] == 2)].iloc[0]
    assert row["final_test_acc"] == pytest.approx(0.88) and row["best_test_acc"] == pytest.approx(0.88)
    assert row["gap"] == pytest.approx(0.05)
    assert (row["iters_to_50pct"], row["iters_to_90pct"]) == (20, 30)
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
    stuck = cells.loc["sigmoid · gauss(0.01)"]
    mean, ci = expected_mean_ci([0.11, 0.10])  # the FAILED seed does not count
    assert (stuck["n_seeds"], stuck["n_runs"]) == (2, 3)
    assert stuck["final_test_acc_mean"] == pytest.approx(mean)
    assert stuck["final_test_acc_ci"] == pytest.approx(ci, rel=1e-5)


def test_report_files_and_embedded_figures(toy_report):
    out = toy_report.parent
    assert {p.name for p in out.iterdir()} >= {"report.html", "summary.csv", "runs.csv", "curves.csv", "figures"}
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    assert figures == ["heatmap_activation_x_initializer", "learning_curves", "test_accuracy_all_cells"]
    text = toy_report.read_text(encoding="utf-8")
    assert text.count('<img src="data:image/png;base64,') == len(figures)
    assert not re.search(r"https?://", text)
    assert "<script" not in text and "@media print" in text
    assert "Activation × initializer on a toy task." in text
    assert "0.900 ± 0.050" in text  # relu · he: 0.90 ± 4.302653 · 0.02 / √3
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


def test_report_logged_to_parent(store, toy_report):
    client = store["client"]
    names = {a.path for a in client.list_artifacts(store["second"], "report")}
    assert {"report/report.html", "report/summary.csv", "report/figures"} <= names
    assert len(client.list_artifacts(store["second"], "report/figures")) == 3


def test_batch_norm_axis_and_single_seed(store):
    report = write_report("bn", out_dir=store["root"] / "report-bn", tracking_uri=store["uri"], log_to_parent=False)
    assert (report.parent / "figures" / "batch_norm_comparison.png").is_file()
    text = report.read_text(encoding="utf-8")
    assert "0.950<" in text and "0.950 ±" not in text  # one seed: the value alone
    assert not store["client"].list_artifacts(store["bn_parent"], "report")


@pytest.mark.parametrize(
    ("study", "run", "message"),
    [
        ("nope", None, r"no study named 'nope'.*studies: .*toy"),
        ("empty", None, r"study 'empty' has no runs yet"),
        ("broken", None, r"has no finished cells"),
        ("toy", "0123456789abcdef", r"no `study run` with id '0123456789abcdef'"),
    ],
)
def test_errors_are_one_line_study_errors(store, tmp_path, study, run, message):
    with pytest.raises(StudyError, match=message) as caught:
        write_report(study, out_dir=tmp_path, parent_run_id=run, tracking_uri=store["uri"])
    assert "\n" not in str(caught.value)


def test_missing_sqlite_store(tmp_path):
    with pytest.raises(StudyError, match="no MLflow store"):
        write_report("toy", tracking_uri=f"sqlite:///{tmp_path}/absent.db")


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
    assert (lo, hi) == (pytest.approx(0.01 - 2.458824 * 0.0158114, abs=1e-6), pytest.approx(0.01 + 2.458824 * 0.0158114, abs=1e-6))
    diff, lo, hi, dof = welch_interval([1.0, 2.0], [0.5])
    assert diff == 1.0 and np.isnan(lo) and np.isnan(dof)  # one value: no interval


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
    assert (resolved["ci_lo"], resolved["ci_hi"]) == (pytest.approx(0.0769400, abs=1e-6), pytest.approx(0.1230600, abs=1e-6))
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


def test_main_effects_and_interactions(reps_context):
    study, per_run, _ = reps_context
    effects = main_effects(per_run, study.axes).set_index(["axis", "level"])
    expected = {("activation", "relu"): 0.895, ("activation", "sigmoid"): 0.455,
                ("initializer", "he"): 0.85, ("initializer", "gauss(0.01)"): 0.50}
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


def test_anova_shares_by_hand(reps_context, reps_report):
    study, per_run, _ = reps_context
    table, balanced = anova(per_run, study.axes)
    table = table.set_index("term")
    # Balanced 2 × 2 × 5: SS_A = 20 · 0.22², SS_B = 20 · 0.175², SS_AB = 20 · 0.17²,
    # SS_residual = (1 + 4 + 1 + 0.25) · Σ NOISE² = 0.00625
    expected = {"activation": 0.968, "initializer": 0.6125, "activation × initializer": 0.578,
                "residual (between seeds)": 0.00625, "total": 2.16475}
    assert balanced and list(table.index) == list(expected)
    for term, ss in expected.items():
        assert table.loc[term, "ss"] == pytest.approx(ss, rel=1e-9)
        assert table.loc[term, "share"] == pytest.approx(100 * ss / 2.16475, rel=1e-9)
    assert list(table["df"]) == [1, 1, 1, 16, 19]
    assert table.loc["activation", "f"] == pytest.approx(0.968 / (0.00625 / 16))  # 2478.08
    assert table.loc["activation", "p"] < 1e-15 and np.isnan(table.loc["total", "f"])
    text = reps_report.read_text(encoding="utf-8")
    assert "Variance explained" in text and "44.7 %" in text and "Approximate" not in text


def test_main_effects_use_cell_means_and_unbalanced_anova_is_flagged():
    a, b = Axis("a", "model.a", ("a1", "a2")), Axis("b", "model.b", ("b1", "b2"))
    rows = [("a1", "b1", 1.0)] * 4 + [("a1", "b2", 0.0), ("a2", "b1", 0.5), ("a2", "b2", 0.5), ("a2", "b2", 0.7)]
    per_run = pd.DataFrame([{"cell": f"{x} · {y}", "status": FINISHED, "axis.a": x, "axis.b": y, "final_test_acc": v}
                            for x, y, v in rows])
    effects = main_effects(per_run, [a, b]).set_index("level")
    assert effects.loc["a1", "mean"] == pytest.approx(0.5)  # run-weighted it would be 0.8
    assert effects.loc["a2", "mean"] == pytest.approx(0.55) and effects.loc["a1", "n_runs"] == 5
    table, balanced = anova(per_run, [a, b])
    assert not balanced
    parts = table[table["term"] != "total"]
    assert parts["ss"].sum() == pytest.approx(table.set_index("term").loc["total", "ss"])  # sequential SS add up


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


def test_diagnostic_panels_only_where_the_rule_applies(store, reps_context):
    from study.report.context import build_context
    from study.report.figures import _plotted_layers

    client = store["client"]
    experiment = find_experiment(client, "reps")
    study = load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc", "act_*"))
    ctx = build_context(study)
    assert set(_plotted_layers(ctx, "act_saturated", ("sigmoid", "tanh"))["cell"]) == {"sigmoid · he", "sigmoid · gauss(0.01)"}
    assert set(_plotted_layers(ctx, "act_dead", ("relu",))["cell"]) == {"relu · he", "relu · gauss(0.01)"}


def test_no_diagnostics_no_gradient_figure_or_column(toy_report):
    text = toy_report.read_text(encoding="utf-8")
    assert "Grad ratio" not in text and "gradient_flow" not in text


def test_one_seed_asks_for_replicates(store):
    report = write_report("bn", out_dir=store["root"] / "report-bn1", tracking_uri=store["uri"], log_to_parent=False)
    text = report.read_text(encoding="utf-8")
    assert "Replicates are needed" in text and "seeds: 5" in text
    assert "Main effects" in text  # one axis of two levels: its main effect and a one-way ANOVA
