"""`expect:` in a study file: met / not met after a real run, printed and stored, exit code 1 on a miss."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from study.cli import main
from tests.support.studies import with_expect


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
