"""The bulk reads of a SQLite store (study/store/histories.py, study/store/bulk_runs.py) give what MLflow's own
client gives, one call per run and key: the same points in the same order, a NaN as NaN, only the keys asked
of each run, the runs' params, tags and latest metrics, deleted runs and other experiments left out."""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

from study.store import histories
from study.store.bulk_runs import runs_by_id
from study.store.histories import metric_histories
from study.store.run_record import RunRecord


@pytest.fixture
def tiny(tmp_path, blank_db):
    """Two runs in one experiment (one with a NaN, a step logged twice, more keys) and one run elsewhere."""
    shutil.copy(blank_db, tmp_path / "mlflow.db")
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    exp, other = client.create_experiment("a"), client.create_experiment("b")
    first = client.create_run(exp, tags={"axis.lr": "0.1"}).info.run_id
    second = client.create_run(exp, run_name="second").info.run_id
    elsewhere = client.create_run(other).info.run_id
    points = [
        ("test_acc", 0.5, 1, 0),
        ("test_acc", 0.7, 2, 10),
        ("test_acc", 0.6, 2, 10),
        ("test_acc", math.nan, 3, 20),
    ]
    points += [("grad_norm/dense_1", 1e-3, 3, 20), ("train_loss", 2.3, 1, 1)]
    client.log_batch(first, [Metric(k, v, t, s) for k, v, t, s in points], params=[Param("model.hidden", "[8]")])
    client.log_batch(second, [Metric("test_acc", 0.9, 5, 0), Metric("train_loss", 1.0, 5, 1)])
    client.log_batch(elsewhere, [Metric("test_acc", 0.1, 5, 0)], tags=[RunTag("x", "y")])
    client.delete_run(second)
    client.restore_run(second)
    return client, exp, first, second, elsewhere


def client_histories(client, wanted):
    return histories._client_histories(client, {r: list(k) for r, k in wanted.items()})


def test_histories_read_in_bulk_equal_the_clients_one_call_per_run_and_key(tiny):
    client, _, first, second, _ = tiny
    wanted = {first: ["test_acc", "grad_norm/dense_1"], second: ["test_acc", "train_loss"]}
    bulk = metric_histories(client, wanted)
    one_by_one = client_histories(client, wanted)
    key = ["run_id", "metric", "timestamp", "step", "value"]
    pd.testing.assert_frame_equal(
        bulk.sort_values(key, kind="stable").reset_index(drop=True),
        one_by_one.sort_values(key, kind="stable").reset_index(drop=True),
    )
    firsts = bulk[(bulk["run_id"] == first) & (bulk["metric"] == "test_acc")]
    assert firsts["step"].tolist() == [0, 10, 10, 20]
    assert firsts["value"].tolist()[:3] == [0.5, 0.6, 0.7] and math.isnan(firsts["value"].iloc[3])
    assert set(bulk.loc[bulk["run_id"] == second, "metric"]) == {"test_acc", "train_loss"}
    assert "train_loss" not in set(bulk.loc[bulk["run_id"] == first, "metric"])  # not asked of that run


def test_histories_of_runs_asking_nothing_are_an_empty_typed_frame(tiny):
    client, _, first, _, _ = tiny
    frame = metric_histories(client, {first: []})
    assert frame.empty and list(frame.columns) == histories.COLUMNS and frame["step"].dtype == "int64"


def test_histories_read_more_runs_than_one_query_holds(tiny, monkeypatch):
    client, _, first, second, _ = tiny
    monkeypatch.setattr(histories, "CHUNK", 1)
    frame = metric_histories(client, {first: ["train_loss"], second: ["train_loss"]})
    assert sorted(frame["value"]) == [1.0, 2.3]


def test_runs_read_in_bulk_equal_mlflows_search(tiny):
    client, exp, first, second, elsewhere = tiny
    bulk = runs_by_id(client, exp, [first, second, elsewhere, "0" * 32])
    assert set(bulk) == {first, second}  # another experiment's run and an unknown id left out
    searched = {r.info.run_id: r for r in client.search_runs([exp])}
    for run_id, run in bulk.items():
        want = searched[run_id]
        assert run.info == RunRecord.of(want).info
        assert run.data.params == want.data.params and run.data.tags == want.data.tags
        assert run.data.metrics.keys() == want.data.metrics.keys()
        for k, v in run.data.metrics.items():
            assert v == want.data.metrics[k] or (math.isnan(v) and math.isnan(want.data.metrics[k]))
    assert math.isnan(bulk[first].data.metrics["test_acc"]) and bulk[second].info.run_name == "second"


def test_runs_of_a_deleted_run_or_a_server_store(tiny):
    client, exp, first, second, _ = tiny
    client.delete_run(first)
    assert set(runs_by_id(client, exp, [first, second])) == {second}
    assert runs_by_id(MlflowClient(tracking_uri="http://127.0.0.1:9"), exp, [second]) is None
