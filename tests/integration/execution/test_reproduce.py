"""`study reproduce`: a whole study re-run from its parent run, on a store moved to another directory.

The original store is written in one directory, moved (the original directory is deleted, as when
a store is sent to another machine), and reproduced there; then one stored value is altered and the
reproduction must find exactly that cell, with its difference. The store is written once for the
module; each test works on its own copy of the moved store.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest

from study.cli import main
from tests.support.paths import REPO

FAST_SMOKE = ["--set", "train.iterations=60", "--set", "train.eval_every=20"]


def parent_ids(db: Path) -> list[str]:
    with sqlite3.connect(db) as con:
        return [
            r[0]
            for r in con.execute(
                "SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid "
                "WHERE t.key = 'study.role' AND t.value = 'parent' ORDER BY r.start_time"
            )
        ]


@pytest.fixture(scope="module")
def sent_store(tmp_path_factory, mnist_dir) -> tuple[Path, Path, str]:
    """The smoke study run once for the module in m/origin, its mlruns/ kept as m/sent and origin deleted
    (as when a store is sent to another machine): (origin, sent mlruns, parent run id). Read-only."""
    m = tmp_path_factory.mktemp("reproduce")
    origin = m / "origin"
    origin.mkdir()
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv("STUDY_DATA_DIR", str(mnist_dir))
        mp.chdir(origin)
        smoke = shutil.copy(REPO / "configs" / "smoke.yaml", origin)  # a study of origin/: its store is origin/mlruns
        assert main(["run", smoke, "--quiet", *FAST_SMOKE]) == 0
    (parent,) = parent_ids(origin / "mlruns" / "mlflow.db")
    shutil.copytree(origin / "mlruns", m / "sent")
    shutil.rmtree(origin)
    return origin, m / "sent", parent


@pytest.fixture
def moved_store(sent_store, tmp_path, monkeypatch, mnist_dir) -> tuple[Path, str]:
    """The module's smoke store, written in an origin directory since deleted, copied to tmp/elsewhere."""
    origin, sent, parent = sent_store
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("STUDY_DATA_DIR", str(mnist_dir))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copytree(sent, elsewhere / "mlruns")
    monkeypatch.chdir(elsewhere)
    assert not origin.exists()
    return elsewhere, parent


def test_reproduce_of_a_moved_store_is_identical(moved_store, sent_store, capsys):
    where, parent = moved_store
    capsys.readouterr()
    assert main(["reproduce", parent, "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["sigmoid · gauss(0.01) · seed 0: identical", "relu · he · seed 0: identical"]
    assert out[2].startswith(f"identical: 2 of 2 cells identical; original parent {parent}, reproduction ")
    assert not sent_store[0].exists()  # nothing written at the old location

    db = where / "mlruns" / "mlflow.db"
    original, new = parent_ids(db)
    assert original == parent
    with sqlite3.connect(db) as con:
        tags = dict(con.execute("SELECT key, value FROM tags WHERE run_uuid = ?", (new,)).fetchall())
    assert tags["study.reproduces"] == parent
    assert tags["study.reproduction"] == "identical: 2 of 2 cells identical"
    stored = json.loads(
        next((where / "mlruns" / "artifacts" / "smoke" / new / "artifacts").glob("reproduction.json")).read_text(
            encoding="utf-8"
        )
    )
    assert [c["identical"] for c in stored["cells"]] == [True, True]

    assert main(["report", "smoke", "--run", new]) == 0  # the reproduction's report shows the comparison
    page = (where / "reports" / "smoke" / new / "report.html").read_text(encoding="utf-8")
    assert "<h2>Reproduction</h2>" in page and f"This run reproduces run <code>{parent}</code>: 2 of 2 cells" in page


def test_an_altered_value_is_reported_with_its_difference(moved_store, capsys):
    where, parent = moved_store
    db = where / "mlruns" / "mlflow.db"
    with sqlite3.connect(db) as con:
        (run,) = con.execute("SELECT run_uuid FROM runs WHERE name = 'relu · he · seed 0'").fetchone()
        changed = con.execute(
            "UPDATE metrics SET value = value + 0.25 WHERE run_uuid = ? AND key = 'test_loss' AND step = 20", (run,)
        ).rowcount
    assert changed == 1
    capsys.readouterr()
    assert main(["reproduce", parent, "--quiet"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "sigmoid · gauss(0.01) · seed 0: identical"
    assert out[1].startswith("relu · he · seed 0: differs: largest |difference| test_loss 0.25")
    assert out[1].endswith("; final test acc +0.0000")
    assert out[2].startswith("differs: 1 of 2 cells identical")


def test_refuses_a_run_that_is_not_a_parent(moved_store, capsys):
    where, parent = moved_store
    with sqlite3.connect(where / "mlruns" / "mlflow.db") as con:
        (cell,) = con.execute("SELECT run_uuid FROM runs WHERE name = 'relu · he · seed 0'").fetchone()
    before = parent_ids(where / "mlruns" / "mlflow.db")
    capsys.readouterr()
    assert main(["reproduce", cell]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        f"error: study reproduce: run {cell} is not a study's parent run (it is a cell run); "
        "give the id of a parent run (study list shows them)",
    ]
    assert main(["reproduce", "0123456789abcdef"]) == 2
    assert parent_ids(where / "mlruns" / "mlflow.db") == before  # nothing written
