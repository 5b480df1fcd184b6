"""The background writer after a store fault (study/store/writer.py) and the disk-space reserve beside a
SQLite store (study/store/reserve.py), on a real MLflow store."""

from __future__ import annotations

from study.store.connect import SERVER_GONE
from study.store.contract import Tag
from study.store.reserve import RESERVE_BYTES, free_reserve, keep_reserve, reserve_path
from study.store.writer import BackgroundWriter


def fails(message: str):
    def write() -> None:
        raise RuntimeError(message)

    return write


def test_after_a_failed_write_the_rest_is_skipped_and_salvage_ends_the_open_runs_failed(blank_store):
    exp_id = blank_store.experiment_id("writer")
    run_id = blank_store.client.create_run(exp_id).info.run_id
    writer, done = BackgroundWriter(), []
    writer.opened(run_id, blank_store)
    writer.submit(fails("(sqlite3.OperationalError) database or disk is full"))
    writer.submit(done.append, "after")  # skipped: nothing after a failed write
    writer.after_writes(lambda: done.append("always"))  # still runs: the store may take it
    writer.jobs.join()
    assert done == ["always"] and writer.error is not None
    assert writer.salvage("the disk is full") == [run_id]
    run = blank_store.client.get_run(run_id)
    assert (run.info.status, run.data.tags[Tag.FAILURE]) == ("FAILED", "the disk is full")
    writer.after_writes(lambda: done.append("closed"))  # closed after salvage: nothing runs any more
    writer.flush()
    assert done == ["always"] and writer.open == {}


def test_a_clean_up_runs_after_a_failed_write_with_the_server_gone_and_after_salvage(blank_store):
    writer, done = BackgroundWriter(), []
    writer.submit(fails("API request failed: Max retries exceeded with url: /api/2.0/mlflow/runs/log-batch"))
    writer.submit(done.append, "upload")  # skipped
    writer.clean_up(done.append, "local copy removed")  # touches no store: runs anyway
    writer.jobs.join()
    writer.salvage(SERVER_GONE, write=False)
    writer.clean_up(done.append, "after salvage")
    writer.flush()
    assert done == ["local copy removed", "after salvage"]


def test_with_the_server_gone_nothing_more_is_sent(blank_store):
    exp_id = blank_store.experiment_id("writer")
    run_id = blank_store.client.create_run(exp_id).info.run_id
    writer, done = BackgroundWriter(), []
    writer.opened(run_id, blank_store)
    writer.submit(fails("API request failed: Max retries exceeded with url: /api/2.0/mlflow/runs/log-batch"))
    writer.after_writes(lambda: done.append("always"))  # would wait out the HTTP retries again: skipped
    writer.jobs.join()
    assert done == [] and not writer.reachable()
    assert writer.salvage(SERVER_GONE, write=False) == []
    assert blank_store.client.get_run(run_id).info.status == "RUNNING"  # left for the next run to mark KILLED


def test_the_reserve_is_kept_beside_a_sqlite_store_and_given_back(blank_store, tmp_cwd):
    path = reserve_path(blank_store.uri)
    assert path == tmp_cwd / "mlruns" / ".space-reserve" and not path.exists()
    keep_reserve(blank_store.uri)
    assert path.stat().st_blocks * 512 >= RESERVE_BYTES  # allocated, not a sparse file
    assert free_reserve(blank_store.uri) and not path.exists()
    assert not free_reserve(blank_store.uri)
    assert reserve_path("http://127.0.0.1:5000") is None  # a server keeps its own disk
    keep_reserve("http://127.0.0.1:5000")
