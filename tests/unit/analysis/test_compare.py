"""`study compare` and study/analysis/compare.py on a hand-built store: two parent runs of one study
whose final accuracies are chosen by hand (one cell moved well beyond its seed spread, one not,
one cell only in B), a study with the same axis and one seed, and a study with another axis."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from scipy import stats

from study import cli
from study.errors import StudyError
from tests.support.handbuilt import finish_parent, log_cell, start_parent

A_FINALS = {"relu": [0.90, 0.91, 0.92], "sigmoid": [0.10, 0.11, 0.12]}
B_FINALS = {"relu": [0.95, 0.96, 0.975], "sigmoid": [0.09, 0.12, 0.125], "tanh": [0.5, 0.6, 0.55]}


def log_parent(client, exp_id, name, finals, tmp_path, params=None):
    """A parent run with a manifest and one cell run per activation × seed ending at the given accuracy."""
    parent = start_parent(client, exp_id, name, ["model.activation"])
    manifest = []
    for activation, values in finals.items():
        for seed, final in enumerate(values):
            extra = ([], params or {})
            run_id = log_cell(
                client, exp_id, parent, {"activation": activation}, seed, [0.1, 0.5, final], 0.01, extra=extra
            )
            manifest.append({"name": f"{activation} · seed {seed}", "seed": seed, "run_id": run_id, "status": "done"})
    finish_parent(client, parent, manifest, tmp_path)
    return parent


@pytest.fixture(scope="module")
def cmp_store(tmp_path_factory, blank_db):
    from mlflow import MlflowClient

    root = tmp_path_factory.mktemp("compare")
    shutil.copy(blank_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("cmp", artifact_location=str(root / "artifacts" / "cmp"))
    a = log_parent(client, exp, "cmp", A_FINALS, root)
    b = log_parent(client, exp, "cmp", B_FINALS, root, params={"train.iterations": "60"})
    one = client.create_experiment("oneseed", artifact_location=str(root / "artifacts" / "oneseed"))
    single = log_parent(client, one, "oneseed", {"relu": [0.93]}, root)
    other = client.create_experiment("otheraxis", artifact_location=str(root / "artifacts" / "otheraxis"))
    parent = start_parent(client, other, "otheraxis", ["model.batch_norm"])
    log_cell(client, other, parent, {"batch_norm": "before"}, 0, [0.1, 0.9], 0.01)
    finish_parent(client, parent, None, root)
    return {"uri": uri, "a": a, "b": b, "single": single, "other": parent}


@pytest.fixture
def uri_env(cmp_store, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", cmp_store["uri"])
    return cmp_store


def welch_by_scipy(b, a):
    """B − A and its 95 % Welch interval, from scipy's own test (independent of study's code)."""
    result = stats.ttest_ind(b, a, equal_var=False)
    ci = result.confidence_interval(0.95)
    return np.mean(b) - np.mean(a), ci.low, ci.high


def test_shared_cells_get_the_difference_and_welchs_interval(cmp_store):
    import study

    comparison = study.compare(cmp_store["a"], cmp_store["b"], store=cmp_store["uri"])
    table = comparison.table.set_index("cell")
    assert list(table.index) == ["relu", "sigmoid"]
    for cell, verdict in (("relu", "changed"), ("sigmoid", "within noise")):
        diff, lo, hi = welch_by_scipy(B_FINALS[cell], A_FINALS[cell])
        row = table.loc[cell]
        assert (row["n_a"], row["n_b"]) == (3, 3)
        assert row["mean_a"] == pytest.approx(np.mean(A_FINALS[cell]))
        assert row["diff"] == pytest.approx(diff)
        assert (row["ci_lo"], row["ci_hi"]) == (pytest.approx(lo), pytest.approx(hi))
        assert row["verdict"] == verdict
    assert comparison.only_b == ["tanh"] and comparison.only_a == []
    assert comparison.settings == {"train.iterations": ("30", "60")}


def test_a_study_name_means_its_latest_run_and_one_seed_cannot_tell_noise(cmp_store):
    import study

    comparison = study.compare("oneseed", "cmp", store=cmp_store["uri"])
    assert comparison.a.parent.info.run_id == cmp_store["single"]
    assert comparison.b.parent.info.run_id == cmp_store["b"]  # the latest parent of `cmp`
    row = comparison.table.set_index("cell").loc["relu"]
    assert row["diff"] == pytest.approx(np.mean(B_FINALS["relu"]) - 0.93)
    assert np.isnan(row["ci_lo"]) and row["verdict"] == "needs seeds"
    assert comparison.only_a == [] and comparison.only_b == ["sigmoid", "tanh"]


def test_several_metrics_each_get_their_rows(cmp_store):
    import study

    comparison = study.compare(
        cmp_store["a"], cmp_store["b"], metrics=["final_test_acc", "gap"], store=cmp_store["uri"]
    )
    assert list(comparison.table["metric"]) == ["final_test_acc", "final_test_acc", "gap", "gap"]
    gap = comparison.table[comparison.table["metric"] == "gap"].set_index("cell")
    assert gap.loc["relu", "diff"] == pytest.approx(0.0)  # train − test is 0.01 in every run


def test_the_cli_prints_the_table(uri_env, capsys):
    assert cli.main(["compare", uri_env["a"], uri_env["b"]]) == 0
    out = capsys.readouterr().out
    assert f"A: run {uri_env['a']} of study 'cmp'" in out
    assert "settings that differ: train.iterations 30 → 60" in out
    relu = next(line for line in out.splitlines() if line.startswith("relu"))
    assert relu.split()[1:5] == ["3/3", "0.9100", "0.9617", "+0.0517"] and relu.endswith("changed")
    assert "only in B: tanh" in out
    assert out.rstrip().endswith("1 changed, 1 within noise")


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["nope", "cmp"],
            "error: 'nope' is neither a study nor a parent run id in the MLflow store; studies: cmp, oneseed, otheraxis",
        ),
        (["cmp", "cmp"], "error: A and B are the same run"),
        (["cmp", "otheraxis"], "error: the two runs have different axes (A: activation; B: batch_norm)"),
        (
            ["cmp", "oneseed", "--metric", "accuracy"],
            "error: --metric: 'accuracy' is not a statistic of both runs (valid: final_test_acc",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_2(uri_env, capsys, args, message):
    assert cli.main(["compare", *args]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(message) and captured.err.count("\n") == 1
    assert captured.out == ""


def test_a_cell_run_id_is_refused_with_its_parent_named(cmp_store):
    import study

    comparison = study.compare(cmp_store["a"], cmp_store["b"], store=cmp_store["uri"])
    cell_run = comparison.a.runs["run_id"].iloc[0]
    with pytest.raises(StudyError, match=f"is a cell run, not a `study run`; give its parent run {cmp_store['a']}"):
        study.compare(cell_run, cmp_store["b"], store=cmp_store["uri"])


def test_the_report_gets_a_comparison_section(cmp_store, tmp_path):
    import study

    path = study.report(cmp_store["b"], compare=cmp_store["a"], out=tmp_path / "rep", store=cmp_store["uri"])
    html = path.read_text(encoding="utf-8")
    section = html[html.index("<h2>Compared with") :]
    section = section[: section.index("</section>")]
    assert f"<code>{cmp_store['a']}</code>" in section
    assert "<td><code>train.iterations</code></td><td>30</td><td>60</td>" in section
    assert "<strong>changed</strong>" in section and "within noise" in section and "only in B: tanh" in section


def test_study_report_compare_writes_the_section_from_the_command_line(uri_env, tmp_path, capsys):
    assert cli.main(["report", "cmp", "--compare", uri_env["a"], "-o", str(tmp_path / "rep")]) == 0
    assert capsys.readouterr().out.strip() == f"report: {tmp_path / 'rep' / 'report.html'}"
    html = (tmp_path / "rep" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Compared with cmp run</h2>" in html and f"<code>{uri_env['a']}</code>" in html
    assert cli.main(["report", "cmp", "--compare", "nope", "-o", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()
