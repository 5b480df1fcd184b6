"""The background writer: MLflow calls sent from one thread, in order, while training goes on."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any


class BackgroundWriter:
    """A thread that sends queued MLflow writes in order, so training never waits on the store."""

    def __init__(self) -> None:
        self.jobs: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="mlflow-writer", daemon=True)
        self.thread.start()

    def submit(self, fn: Callable[..., Any], *args) -> None:
        if self.error is not None:
            raise RuntimeError(f"MLflow write failed: {self.error}") from self.error
        self.jobs.put((fn, args, False))

    def after_writes(self, fn: Callable[[], Any]) -> None:
        """Run `fn` on the writer thread once every write queued before it is done, even a failed one."""
        self.jobs.put((fn, (), True))

    def flush(self) -> None:
        """Wait until every queued write is done; re-raise the first failure."""
        self.jobs.join()
        if self.error is not None:
            raise RuntimeError(f"MLflow write failed: {self.error}") from self.error

    def _work(self) -> None:
        while True:
            fn, args, always = self.jobs.get()
            try:
                if always or self.error is None:  # after a failed write, skip the rest (no FINISHED)
                    fn(*args)
            except BaseException as exc:  # kept and raised on the caller's thread
                self.error = exc
            finally:
                self.jobs.task_done()
