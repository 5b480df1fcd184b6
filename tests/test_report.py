"""Tests for study.results and study.report against a hand-built MLflow store in tmp.

The store follows docs/store-layout.md: study `toy` has activation × initializer × 3 seeds with
hand-chosen test accuracies (one cell stuck at chance, one of its seeds FAILED), logged under a
first parent without a manifest; a second, later parent skipped every cell and lists the same
runs in its `cells.json`. Study `bn` has a batch-norm axis and one seed per cell.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from study.errors import StudyError
from study.report import write_report
from study.results import find_experiment, find_parent, load_study_runs, run_stats, summarize

EVAL_STEPS = [0, 10, 20, 30]
T_975 = {1: 12.706205, 2: 4.302653}  # Student t quantiles, 0.975, by degrees of freedom
TOY_CELLS = {  # (activation, initializer): (train − test offset, test accuracy per seed at EVAL_STEPS)
    ("relu", "he"): (0.05, [[0.10, 0.50, 0.80, 0.90], [0.10, 0.60, 0.85, 0.92], [0.10, 0.40, 0.70, 0.88]]),
    ("relu", "gauss(0.01)"): (0.03, [[0.10, 0.70, 0.95, 0.93], [0.10, 0.80, 0.96, 0.94], [0.10, 0.75, 0.94, 0.95]]),
    ("sigmoid", "he"): (0.02, [[0.10, 0.30, 0.60, 0.70], [0.10, 0.35, 0.65, 0.72], [0.10, 0.25, 0.55, 0.68]]),
    ("sigmoid", "gauss(0.01)"): (0.0, [[0.10, 0.11, 0.10, 0.11], [0.10, 0.09, 0.10, 0.10], [0.10, 0.10, 0.10]]),
}
FAILED = (("sigmoid", "gauss(0.01)"), 2)  # this cell × seed diverges at iteration 20
WALL_TIMES = [10.0, 11.0, 12.0]


def cell_name(*values: str) -> str:
    """The readable cell name the writer uses."""
    return " · ".join(values)


def log_cell(client, experiment_id, parent_id, axes: dict[str, str], seed, test_acc, offset, failed=False) -> str:
    """Log one child run (tags, params, curves, summary or failure) the way study/tracking.py does."""
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
    params |= {"optimizer.lr": "0.1", "train.iterations": "30", "train.seed": str(seed)}
    steps = EVAL_STEPS[: len(test_acc)]
    losses = [float("nan") if failed and s == 20 else 1.0 / s for s in range(1, steps[-1] + 1)]
    metrics = [Metric("train_loss", loss, 0, s) for s, loss in enumerate(losses, start=1)]
    for step, acc in zip(steps, test_acc):
        values = {"test_acc": acc, "train_acc": acc + offset, "test_loss": 2.0 - acc}
        metrics += [Metric(k, v, 0, step) for k, v in values.items()]
    if failed:
        tags = [RunTag("study.failure", "loss became NaN"), RunTag("study.failure_step", "20")]
    else:
        final = {"final_test_acc": test_acc[-1], "best_test_acc": max(test_acc), "final_test_loss": 2.0 - test_acc[-1]}
        final |= {"final_train_acc": test_acc[-1] + offset, "wall_time_s": WALL_TIMES[seed]}
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

    create("empty")
    broken = create("broken")
    broken_parent = start_parent(client, broken, "broken", ["model.activation"])
    log_cell(client, broken, broken_parent, {"activation": "relu"}, 0, [0.1, 0.1], 0.0, failed=True)
    finish_parent(client, broken_parent, None, root)
    return {"uri": uri, "client": client, "first": first, "second": second, "bn_parent": bn_parent, "root": root}


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
