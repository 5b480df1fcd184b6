"""What the store holds of a study with nothing left to train (study/store/finished.py): the quick SQLite look
that decides whether `study run` starts its training process, the parent run that lists the finished cells,
and where its report is."""

from __future__ import annotations

import json
import sqlite3

from study.store.contract import ROLE_CELL, Artifact, Tag, tag_is


def cell_run(store, exp_id: str, config_hash: str, status: str = "FINISHED") -> str:
    run = store.client.create_run(exp_id, tags={Tag.ROLE: ROLE_CELL, Tag.CONFIG_HASH: config_hash})
    store.end(run.info.run_id, status)
    return run.info.run_id


def parent_run(store, exp_id: str, manifest: list[tuple[str, str]], digest: str = "d1") -> str:
    parent = store.start_parent(exp_id, "done", {Tag.DATASET_DIGEST: digest})
    rows = [{"run_id": run_id, "status": status} for run_id, status in manifest]
    store.log_text(parent, json.dumps(rows), Artifact.MANIFEST)
    store.end(parent)
    return parent


def test_the_quick_look_says_no_only_when_a_cell_certainly_never_finished(blank_store, tmp_path) -> None:
    from study.store.finished import may_all_be_finished

    uri = blank_store.uri
    assert not may_all_be_finished(f"sqlite:///{tmp_path / 'none' / 'mlflow.db'}", "done", ["a"])  # no store
    assert not may_all_be_finished(uri, "done", ["a"])  # no such study
    exp_id = blank_store.experiment_id("done")
    cell_run(blank_store, exp_id, "a")
    cell_run(blank_store, exp_id, "b", "FAILED")
    assert may_all_be_finished(uri, "done", ["a"])
    assert not may_all_be_finished(uri, "done", ["a", "b"])  # b failed: it trains again
    assert not may_all_be_finished(uri, "other", ["a"])  # another study's runs do not count
    deleted = cell_run(blank_store, exp_id, "c")
    blank_store.client.delete_run(deleted)
    assert not may_all_be_finished(uri, "done", ["a", "c"])
    assert may_all_be_finished("http://127.0.0.1:1", "done", ["a"])  # a server: only MLflow can tell
    odd = tmp_path / "odd.db"
    sqlite3.connect(odd).execute("CREATE TABLE t (x)").connection.close()  # a schema it cannot read: MLflow decides
    assert may_all_be_finished(f"sqlite:///{odd}", "done", ["a"])


def test_the_covering_parent_lists_exactly_the_runs_and_one_with_a_report_is_preferred(blank_store, tmp_path) -> None:
    from study.store.finished import covering_parent, stored_report

    exp_id = blank_store.experiment_id("done")
    a, b = cell_run(blank_store, exp_id, "a"), cell_run(blank_store, exp_id, "b")
    on_d1, on_d2 = tag_is(Tag.DATASET_DIGEST, "d1"), tag_is(Tag.DATASET_DIGEST, "d2")
    parent_run(blank_store, exp_id, [(a, "done")])
    assert covering_parent(blank_store.client, exp_id, {a, b}, on_d1) is None  # lists only a
    trained = parent_run(blank_store, exp_id, [(a, "skipped"), (b, "done")])
    newer = parent_run(blank_store, exp_id, [(a, "skipped"), (b, "skipped")])
    assert covering_parent(blank_store.client, exp_id, {a, b}, on_d1) == newer
    assert covering_parent(blank_store.client, exp_id, {a, b}, on_d2) is None  # another dataset
    assert stored_report(blank_store.client, trained) is None
    (tmp_path / "report.html").write_text("<html></html>")
    blank_store.client.log_artifact(trained, str(tmp_path / "report.html"), Artifact.REPORT_DIR)
    assert covering_parent(blank_store.client, exp_id, {a, b}, on_d1) == trained  # the one with a report
    path = stored_report(blank_store.client, trained)
    assert path is not None and path.endswith(Artifact.REPORT) and open(path).read() == "<html></html>"
