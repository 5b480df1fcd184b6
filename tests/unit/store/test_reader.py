"""study.store.reader against the hand-built store of tests/support/handbuilt.py: the latest parent read through
its manifest, an explicit parent without one through its nested runs."""

from __future__ import annotations

from study.store.reader import find_experiment, find_parent, load_study_runs


def test_latest_parent_reads_manifest_runs_of_an_earlier_parent(hand_store, toy_summary):
    study, per_run, _ = toy_summary
    assert study.parent.info.run_id == hand_store["second"]
    assert len(per_run) == 12 and [e["name"] for e in study.unrun] == ["tanh · he · seed 0"]
    assert [a.short for a in study.axes] == ["activation", "initializer"]
    assert [a.key for a in study.axes] == ["model.activation", "model.initializer"]
    assert study.axes[1].levels == ("he", "gauss(0.01)")
    assert study.fixed == {"optimizer.lr": "0.1", "train.iterations": "30"}
    assert study.datasets == [("mnist", "abc123")] and study.versions == {"keras": "3.3.3", "study": "0.1.0"}
    assert study.wall_time_s == 50.0
    assert set(study.curves["metric"]) == {"train_loss", "train_acc", "test_acc", "test_loss"}
    assert len(study.curve("train_loss")) == 11 * 30 + 20


def test_explicit_parent_without_manifest_uses_nested_runs(hand_store, toy_summary):
    client = hand_store["client"]
    experiment = find_experiment(client, "toy")
    study = load_study_runs(client, experiment, find_parent(client, experiment, hand_store["first"]))
    assert sorted(study.runs["run_id"]) == sorted(toy_summary[0].runs["run_id"])
