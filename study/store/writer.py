"""The background writer: MLflow calls sent from one thread, in order, while training goes on."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from study.store.connect import SERVER_GONE, store_fault_text
from study.store.contract import Tag

LOCAL = "local"  # a queued job that touches no store: it runs whatever happened before it


class BackgroundWriter:
    """A thread that sends queued MLflow writes in order, so training never waits on the store."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.open: dict[str, Any] = {}  # run id -> its Store: runs whose end status is not written yet
        self.ending: set[str] = set()  # runs whose end status is queued
        self.closed = False  # after `salvage`: every later job is skipped (the store failed)
        self.thread = threading.Thread(target=self._work, name="mlflow-writer", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], *args) -> None:
        if self.error is not None:
            raise RuntimeError(f"MLflow write failed: {self.error}") from self.error
        self.jobs.put((fn, args, False))

    def after_writes(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on the writer thread once every write queued before it is done, even a failed one."""
        self.jobs.put((fn, (), True))

    def clean_up(self, fn: Callable[..., Any], *args) -> None:
        """Run `fn(*args)`, a local clean-up that calls no store, on the writer thread once every write
        queued before it is done, whatever became of them (skipped after a failure, or after `salvage`)."""
        self.jobs.put((fn, args, LOCAL))

    def opened(self, run_id: str, store: Any) -> None:
        """A run this writer writes to was created; it stays open until `end` has written its status."""
        self.open[run_id] = store

    def end(self, run_id: str, status: str) -> None:
        """Queue the run's end status, written after everything queued before it."""
        self.submit(self._end, run_id, status)
        self.ending.add(run_id)

    def _end(self, run_id: str, status: str) -> None:
        self.open[run_id].end(run_id, status)
        del self.open[run_id]
        self.ending.discard(run_id)

    def flush(self) -> None:
        """Wait until every queued write is done; re-raise the first failure."""
        self.jobs.join()
        if self.error is not None:
            raise RuntimeError(f"MLflow write failed: {self.error}") from self.error

    def salvage(self, reason: str, write: bool = True) -> list[str]:
        """After the store failed: let the queue run out (the writes after a failure are skipped), forget
        the failure, close the writer (later jobs are skipped too) and, with `write` (not for a store
        that is gone), end every run still open FAILED with `reason`, each write tried on its own, as
        far as the store takes them. Returns the runs it could end."""
        self.jobs.join()
        self.error, self.closed = None, True
        ended: list[str] = []
        for run_id, store in list(self.open.items()) if write else []:
            try:
                store.set_tags(run_id, {Tag.FAILURE: reason})
            except Exception:  # the status matters more than its reason: try it anyway
                pass
            try:
                store.end(run_id, "FAILED")
            except Exception:
                continue
            del self.open[run_id]
            ended.append(run_id)
        return ended

    def reachable(self) -> bool:
        """Whether the store may still take a write after the failure (a tracking server that stopped
        answering would only cost each later job the HTTP client's retries, ~15 s)."""
        return store_fault_text(self.error) != SERVER_GONE if self.error is not None else True

    def _work(self) -> None:
        while True:
            fn, args, always = self.jobs.get()
            try:
                skipped = self.closed or (self.error is not None and not (always and self.reachable()))
                if skipped and always is not LOCAL:
                    continue  # after a failed write no FINISHED; with the server gone, nothing more
                fn(*args)
            except BaseException as exc:  # kept and raised on the caller's thread
                self.error = exc
            finally:
                self.jobs.task_done()
