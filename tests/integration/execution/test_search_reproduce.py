"""`study reproduce` of a search (study/execution/reproduce_search.py): every complete trial re-trained from the
params on its run, the pruned one to the iteration it was pruned at, compared value by value; an altered
stored value is reported as a difference. A real search of 3 trials on 300 MNIST images, one of them pruned.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from study import cli
from study.store.contract import Tag
from tests.support.runs import DATA_ENV, Runs, cli_run, enqueue, prepare_store
from tests.support.searches import PRUNED, optuna_trials


@pytest.fixture(scope="module")
def searched(tmp_path_factory, mnist_dir, blank_db) -> Path:
    """The search run once for the module (read-only: each test works on a copy of its folder)."""
    root = tmp_path_factory.mktemp("searched")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv(DATA_ENV, str(mnist_dir))
        prepare_store(root, blank_db)
        (root / "search.yaml").write_text(PRUNED, encoding="utf-8")
        enqueue(root, ({"lr": 0.1}, {"lr": 0.2}, {"lr": 1e-6}))
        assert cli_run(root / "search.yaml") == 0
    assert [t.state.name for t in optuna_trials(root)] == ["COMPLETE", "COMPLETE", "PRUNED"]
    return root


@pytest.fixture
def pruned_search(searched, tmp_path, monkeypatch, mnist_dir):
    """A finished search: trials lr 0.1 and 0.2 COMPLETE, lr 1e-6 PRUNED at iteration 10; its parent run.
    A copy of the module's search in tmp_path (the tests add runs and alter values)."""
    root = Path(shutil.copytree(searched, tmp_path / "search"))
    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    return root, Runs(root, "pruning").latest_parent().info.run_id


def test_reproducing_a_search_retrains_every_trial_from_its_run_and_is_identical(pruned_search, capsys):
    root, parent = pruned_search
    runs = Runs(root, "pruning")
    originals = {r.info.run_id for r in runs.all()}
    trials_before = len(optuna_trials(root))
    capsys.readouterr()
    assert cli.main(["reproduce", parent, "--quiet"]) == 0
    out = capsys.readouterr().out.splitlines()
    names = sorted(runs.client.get_run(r).info.run_name for r in originals)
    assert sorted(line.removesuffix(": identical") for line in out[:3]) == names
    assert out[3].startswith(f"identical: 3 of 3 cells identical; original parent {parent}, reproduction ")

    new_parent = runs.latest_parent()
    assert new_parent.data.tags[Tag.REPRODUCES] == parent
    assert new_parent.data.tags[Tag.REPRODUCTION] == "identical: 3 of 3 cells identical"
    new = [r for r in runs.all() if r.info.run_id not in originals]
    assert {r.data.tags["mlflow.parentRunId"] for r in new} == {new_parent.info.run_id} and len(new) == 3
    by_trial = {r.data.tags[Tag.TRIAL]: r for r in new}
    assert sorted(by_trial) == ["0", "1", "2"]
    pruned = by_trial["2"]
    assert pruned.info.status == "KILLED" and pruned.data.tags[Tag.TRIAL_STATE] == "PRUNED"
    assert pruned.data.tags[Tag.PRUNED_AT] == "10" and runs.steps(pruned.info.run_id, "train_loss") == list(
        range(1, 11)
    )
    assert all(by_trial[n].info.status == "FINISHED" for n in ("0", "1"))
    assert all(by_trial[n].data.tags[Tag.TRIAL_STATE] == "COMPLETE" for n in ("0", "1"))
    assert len(optuna_trials(root)) == trials_before  # the search itself is untouched: no trial asked


def test_an_altered_value_in_a_search_trial_is_reported_as_a_difference_the_others_identical(pruned_search, capsys):
    root, parent = pruned_search
    db = root / "mlruns" / "mlflow.db"
    with sqlite3.connect(db) as con:
        (run,) = con.execute("SELECT run_uuid FROM runs WHERE name LIKE 'trial 1 %'").fetchone()
        changed = con.execute(
            "UPDATE metrics SET value = value + 0.125 WHERE run_uuid = ? AND key = 'test_acc' AND step = 50", (run,)
        ).rowcount
    assert changed == 1
    capsys.readouterr()
    assert cli.main(["reproduce", parent, "--quiet", "--workers", "2"]) == 1  # trained in 2 worker processes
    out = capsys.readouterr().out.splitlines()
    (line,) = [x for x in out if x.startswith("trial 1 ")]
    assert ": differs: largest |difference| test_acc 0.125" in line
    assert sum(x.endswith(": identical") for x in out) == 2
    assert out[-1].startswith("differs: 2 of 3 cells identical")
