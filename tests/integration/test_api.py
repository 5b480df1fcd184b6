"""The Python API (study/api.py): `import study` stays light (in a fresh process), and — on a tiny study
trained for real into a store given as a folder — run, runs, curves and report agree with each other,
with the store and with the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.support.studies import TINY

HEAVY = ("tensorflow", "mlflow", "pandas", "matplotlib", "seaborn")


def test_import_study_loads_nothing_heavy_and_lists_the_api():
    code = (
        "import sys, study; names = dir(study); study.load; study.cells; study.runs; study.run; "
        f"print([m for m in {HEAVY!r} if m in sys.modules]); print(names)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out[0] == "[]"
    for name in ("load", "cells", "run", "runs", "curves", "report", "compare", "rm", "RunResult"):
        assert f"'{name}'" in out[1]


# --- a study trained for real ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, mnist_dir):
    """TINY run through the API into tmp/store (a folder the API creates), from another directory."""
    import study

    root = tmp_path_factory.mktemp("api")
    path = root / "tiny.yaml"
    path.write_text(TINY, encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("STUDY_DATA_DIR", str(mnist_dir))
        result = study.run(path, store=root / "store", progress=False)
    return root, result


def test_run_returns_one_row_per_cell_run_and_writes_only_the_given_store(trained):
    root, result = trained
    assert result.ok and result.exit_code == 0 and result.failed == []
    cells = result.cells
    assert list(cells["cell"]) == ["sigmoid", "sigmoid", "relu", "relu"] and list(cells["seed"]) == [0, 1, 0, 1]
    assert set(cells["status"]) == {"done"} and cells["run_id"].notna().all()
    assert cells["final_test_acc"].between(0, 1).all()
    assert list(result.expectations["met"]) == [True, True]
    assert result.store == f"sqlite:///{root / 'store' / 'mlflow.db'}"
    assert (root / "store" / "artifacts" / "apitiny").is_dir()
    assert not (root / "mlruns").exists()  # the default store is not touched
    assert result.parent_run_id in result.table and "2 cells × 2 seeds = 4 runs, 0 failed" in str(result)


def test_runs_and_curves_read_the_same_numbers_back(trained):
    import study

    root, result = trained
    runs = study.runs("apitiny", store=root / "store")
    assert set(runs["parent_run_id"]) == {result.parent_run_id} and set(runs["study"]) == {"apitiny"}
    merged = result.cells.merge(runs, on="run_id", suffixes=("", "_store"))
    assert len(merged) == 4
    assert (merged["final_test_acc"] == merged["final_test_acc_store"]).all()
    assert (merged["axis.activation"] == merged["params.model.activation"]).all()
    curves = study.curves(result.parent_run_id, metrics=["test_acc", "train_loss"], store=root / "store")
    assert list(curves.columns) == ["run_id", "cell", "seed", "axis.activation", "metric", "step", "value"]
    test_acc = curves[curves["metric"] == "test_acc"]
    assert sorted(set(test_acc["step"])) == [0, 10, 20, 30, 40]
    last = test_acc[test_acc["step"] == 40].set_index("run_id")["value"]
    # the summary is the exact ratio of correct answers (of 100 test images), the history a float32 mean
    np.testing.assert_allclose(
        last.loc[runs["run_id"]].to_numpy(), runs["final_test_acc"].to_numpy(), rtol=0, atol=1e-6
    )
    assert ((runs["final_test_acc"] * 100).round(9) % 1 == 0).all()
    assert set(curves[curves["metric"] == "train_loss"]["step"]) == set(range(1, 41))


def test_running_again_trains_nothing_and_the_report_reads_the_run_that_trained(trained, monkeypatch, mnist_dir):
    import study

    root, first = trained
    monkeypatch.chdir(root)
    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))
    again = study.run(root / "tiny.yaml", store=root / "store", progress=False, report=True)
    assert set(again.cells["status"]) == {"skipped"} and list(again.cells["run_id"]) == list(first.cells["run_id"])
    assert again.parent_run_id == first.parent_run_id  # nothing to train: no new parent run
    assert again.report_path == Path("reports") / "apitiny" / first.parent_run_id / "report.html"
    assert again.report_path.is_file()
    written = again.report_path.stat().st_mtime_ns
    third = study.run(root / "tiny.yaml", store=root / "store", progress=False, report=True)
    assert third.report_path is not None and third.report_path.read_bytes() == again.report_path.read_bytes()
    assert again.report_path.stat().st_mtime_ns == written  # the report the parent holds, not written again


def test_the_run_result_shows_itself_in_a_notebook(trained):
    _, result = trained
    html = result._repr_html_()
    assert result.parent_run_id in html and "<table" in html
    assert isinstance(result.cells, pd.DataFrame)
    json.dumps(result.expectations.to_dict("records"))  # plain values
