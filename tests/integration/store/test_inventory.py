"""`study list`: the studies in the store, their parent runs newest first, and how their cells ended."""

from __future__ import annotations

import re
import shutil

from study.cli import main
from tests.support.paths import REPO


def test_lists_each_parent_run_with_its_cells(tmp_cwd, mnist_dir, monkeypatch, capsys):
    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))
    smoke = [
        shutil.copy(REPO / "configs" / "smoke.yaml", tmp_cwd),  # this folder's study: its store is here
        "--quiet",
        "--set",
        "train.iterations=40",
        "--set",
        "train.eval_every=20",
    ]
    assert main(["run", *smoke]) == 0
    assert main(["run", *smoke, "--set", "seeds=[1]"]) == 0  # a second parent with two new cells
    capsys.readouterr()
    assert main(["list"]) == 0
    out, err = capsys.readouterr()
    lines = out.strip().splitlines()
    assert err == f"store: sqlite:///{tmp_cwd / 'mlruns' / 'mlflow.db'}\n"
    assert lines[0] == "smoke  (2 study runs; cell runs: 4 finished)"
    parents = lines[1:]
    assert len(parents) == 2
    for line in parents:
        assert re.fullmatch(
            r"  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d  [0-9a-f]{32}  FINISHED +\d+\.\ds  2 new of 2 runs", line
        ), line
    assert parents[0].split()[:2] >= parents[1].split()[:2]  # newest first: dates and times sort as text (two
    # parents of one second may come in either order, so the run ids after them are not compared)
