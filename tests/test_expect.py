"""`expect:` in a study file: strict selectors before anything runs, met / not met after, exit code 1 on a miss."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from study.cli import main

SMOKE = """\
study: expect_smoke
base:
  data: {name: mnist, train_size: 500, test_size: 200}
  model: {hidden: [20]}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 50, eval_every: 20, diagnostics_every: 0}
grid:
  model.activation: [sigmoid, relu]
  model.initializer: [gauss, he]
seeds: [0]
"""


def with_expect(text: str) -> str:
    return SMOKE + "expect:\n" + text


@pytest.mark.parametrize(
    "expect, message",
    [
        (
            "  - {cells: {activaton: relu}, final_test_acc: [0.5, 1]}",
            "expect[0].cells: unknown axis 'activaton' (valid: model.activation, activation, model.initializer, initializer)",
        ),
        (
            "  - {cells: {activation: tanh}, final_test_acc: [0.5, 1]}",
            "expect[0].cells.activation: no cell has 'tanh' (valid: sigmoid, relu)",
        ),
        (
            "  - {cells: {activation: relu}}",
            "expect.0: an expectation needs a range for at least one of final_test_acc, best_test_acc, final_train_acc, "
            "final_test_loss",
        ),
        ("  - {final_test_acc: [0.9, 0.5]}", "expect.0: final_test_acc: [0.9, 0.5] is empty: write [low, high]"),
        ("  - {final_test_acc: [0.5]}", "expect.0.final_test_acc: [0.5]: List should have at least 2 items"),
        (
            "  - {final_test_acc: [0.5, 0.9], finall_test_acc: [0, 1]}",
            "expect.0.finall_test_acc: unknown key 'finall_test_acc' (valid keys here: cells, final_test_acc, best_test_acc, final_train_acc, final_test_loss, final_test_mae, best_test_mae, final_train_mae, final_test_mse, source)",
        ),
    ],
)
def test_bad_expectations_are_refused_before_anything_runs(expect, message, write_study, tmp_cwd, capsys, mnist_dir):
    path = write_study(with_expect(expect).replace("name: mnist,", f"name: mnist, dir: {mnist_dir},"))
    for argv in (["run", str(path), "--quiet"], ["run", str(path), "--dry-run"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {path}: ") and message in err[0], err
    assert not (tmp_cwd / "mlruns").exists()


@pytest.mark.slow
def test_expectations_are_checked_printed_and_stored(write_study, tmp_cwd, capsys, mnist_dir):
    path = write_study(
        with_expect(
            "  - {cells: {activation: relu, initializer: he}, final_test_acc: [0.3, 1.0], source: a citation}\n"
            "  - {cells: {initializer: gauss(0.01)}, final_test_acc: [0.9, 1.0]}\n"
        ).replace("name: mnist,", f"name: mnist, dir: {mnist_dir},")
    )
    assert main(["run", str(path), "--quiet"]) == 1  # the second expectation cannot be met after 40 iterations
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("expect[")]
    assert len(lines) == 3  # relu · he, then sigmoid · gauss and relu · gauss
    assert lines[0].startswith("expect[0] relu · he · seed 0: final_test_acc ") and lines[0].endswith(": met")
    assert all(line.startswith("expect[1] ") and line.endswith("NOT MET") for line in lines[1:])
    assert "1 of 3 expectations met" in out

    with sqlite3.connect(tmp_cwd / "mlruns" / "mlflow.db") as con:
        (parent,) = con.execute("SELECT run_uuid FROM tags WHERE key = 'study.role' AND value = 'parent'").fetchone()
        tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (parent,)).fetchall())
    assert tags["study.expect"] == "1 of 3 expectations met"
    stored = json.loads(
        next(Path(tmp_cwd, "mlruns", "artifacts").glob(f"*/{parent}/artifacts/expectations.json")).read_text(
            encoding="utf-8"
        )
    )
    assert [(o["cell"], o["met"], o["source"]) for o in stored] == [
        ("relu · he · seed 0", True, "a citation"),
        ("sigmoid · gauss(0.01) · seed 0", False, ""),
        ("relu · gauss(0.01) · seed 0", False, ""),
    ]

    assert main(["report", "expect_smoke"]) == 0  # the report opens with them
    page = (tmp_cwd / "reports" / "expect_smoke" / "latest" / "report.html").read_text(encoding="utf-8")
    assert "<h2>Expected results: 1 of 3 met</h2>" in page
    assert page.index("Expected results") < page.index("What was run")

    # a second run skips the finished cells and checks the same expectations on their stored metrics
    assert main(["run", str(path), "--quiet"]) == 1
    assert "1 of 3 expectations met" in capsys.readouterr().out


def test_a_list_valued_axis_can_be_selected(write_study):
    """`model.hidden` values are lists: a selector matches them by label or by the list itself."""
    from study.check.expectations import check_expectations
    from study.plan.grid import expand
    from study.spec.studyfile import load_study

    text = SMOKE.replace("model.initializer: [gauss, he]", "model.hidden: [[], [16]]")
    study = load_study(write_study(text + "expect:\n  - {cells: {hidden: no hidden}, final_test_acc: [0, 1]}\n"))
    check_expectations(study, expand(study))
    study = load_study(write_study(text + "expect:\n  - {cells: {hidden: [16]}, final_test_acc: [0, 1]}\n", "b.yaml"))
    check_expectations(study, expand(study))
