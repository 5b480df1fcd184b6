"""The report's work in the MLflow store, in a process of its own where one can be forked.

MLflow and its SQL store take ~4.5 s to import before the store can be read, and the report's own
libraries (pandas, matplotlib, seaborn, SciPy) ~3 s more. Forked before either, the store process imports
MLflow, finds the run, reads it (study/store/reader.py) and sends the read model back while the report's
process imports its own libraries on another core; once the report is written, it logs it to the parent
run, refreshes the parent's Description and ends. Where no fork is possible or safe (study/reporting/
forking.py: no fork, another thread, STUDY_REPORT_WORKERS=1) the same functions run in the report's process.
"""

from __future__ import annotations

import multiprocessing
import signal
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from study.errors import StudyError
from study.reporting.forking import can_fork, default_workers

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

    from study.store.reader import StudyRuns


@dataclass
class ReportInputs:
    """What a report reads from the store: the run's read model and the parent's JSON artifacts."""

    runs: StudyRuns
    newest: bool  # whether the run is its study's latest (reports/<study>/latest then points at it)
    expectations: Any
    reproduction: Any
    rounds: Any
    compared: (
        tuple[StudyRuns, StudyRuns] | None
    )  # `--compare`: the other run (A) and this one (B), as compare reads them


def read_inputs(uri: str, target: str, run: str | None = None, compare: str | None = None) -> ReportInputs:
    """Read what the report of `target` (a study's latest run, a parent run id, or the study's parent `run`)
    needs, and with `compare` the two runs the comparison section compares."""
    from mlflow import MlflowClient

    from study.store.connect import repoint_moved_store
    from study.store.contract import Artifact
    from study.store.lookup import resolve_target
    from study.store.reader import CURVE_METRICS, DIAGNOSTIC_CURVES, find_parent, load_study_runs, read_json_artifact

    with _store_errors(uri):
        repoint_moved_store(uri)
        client = MlflowClient(uri)
        chosen = resolve_target(client, target, run)
        parent = chosen.parent
        assert parent is not None
        parent_id = parent.info.run_id
        compared = None
        if compare is not None:
            other = resolve_target(client, compare)
            assert other.parent is not None
            compared = (
                load_study_runs(client, other.experiment, other.parent, CURVE_METRICS),
                load_study_runs(client, chosen.experiment, parent, CURVE_METRICS),
            )
        return ReportInputs(
            runs=load_study_runs(
                client, chosen.experiment, parent, (*CURVE_METRICS, *DIAGNOSTIC_CURVES), own_curves=True
            ),
            newest=find_parent(client, chosen.experiment).info.run_id == parent_id,
            expectations=read_json_artifact(client, parent_id, Artifact.EXPECTATIONS),
            reproduction=read_json_artifact(client, parent_id, Artifact.REPRODUCTION),
            rounds=read_json_artifact(client, parent_id, Artifact.ROUNDS),
            compared=compared,
        )


def read_directly(uri: str, target: str, run: str | None = None, compare: str | None = None) -> ReportInputs | None:
    """The report's inputs read from a SQLite store without MLflow (study/store/direct_read.py), after
    re-pointing a moved store's artifacts; None where that module does not read them, or with `compare`."""
    if compare is not None:
        return None
    from study.store.connect import repoint_moved_store
    from study.store.contract import Artifact
    from study.store.direct_read import read_directly as read_run
    from study.store.reader import CURVE_METRICS, DIAGNOSTIC_CURVES

    repoint_moved_store(uri)
    read = read_run(uri, target, run, (*CURVE_METRICS, *DIAGNOSTIC_CURVES), own_curves=True)
    if read is None:
        return None
    return ReportInputs(
        runs=read.runs,
        newest=read.newest,
        expectations=read.json_artifact(Artifact.EXPECTATIONS),
        reproduction=read.json_artifact(Artifact.REPRODUCTION),
        rounds=read.json_artifact(Artifact.ROUNDS),
        compared=None,
    )


def log_report(uri: str, parent_id: str, out: Path) -> None:
    """Attach report.html, summary.csv and the figures to the parent run under `report/`, then refresh the
    parent's Description, which links them."""
    from mlflow import MlflowClient

    from study.store.connect import retry
    from study.store.contract import Artifact
    from study.store.views import describe_parent

    with _store_errors(uri):
        client = MlflowClient(uri)
        client.log_artifact(parent_id, str(out / "report.html"), Artifact.REPORT_DIR)
        client.log_artifact(parent_id, str(out / "summary.csv"), Artifact.REPORT_DIR)
        client.log_artifacts(parent_id, str(out / "figures"), f"{Artifact.REPORT_DIR}/figures")
        retry(describe_parent, client, parent_id)


@contextmanager
def _store_errors(uri: str) -> Iterator[None]:
    """MLflow's own errors as one StudyError line."""
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise StudyError(f"cannot use the MLflow store at {uri}: {first_line}") from None


class StoreSide:
    """The report's reads and its logging, in a forked process where possible, else here."""

    def __init__(self, uri: str, target: str, run: str | None = None, compare: str | None = None) -> None:
        self.uri = uri
        self._order = (uri, target, run, compare)
        self._conn: Connection | None = None
        self._process: multiprocessing.process.BaseProcess | None = None
        if default_workers() > 1 and can_fork():
            context = multiprocessing.get_context("fork")
            ours, theirs = context.Pipe()
            self._process = context.Process(target=_serve, args=(theirs, uri), daemon=True)
            self._process.start()
            theirs.close()
            self._conn = ours

    def inputs(self) -> ReportInputs:
        """The report's inputs: read here from a SQLite store where study/store/direct_read.py can, else through
        MLflow (raises what reading raised: a StudyError in one line)."""
        direct = read_directly(*self._order)
        if direct is not None:
            return direct
        if self._conn is None:
            return read_inputs(*self._order)
        self._conn.send(("read", self._order[1:]))
        return self._answer()

    def log(self, parent_id: str, out: Path) -> None:
        """Log the written report to the parent run; raises what logging raised."""
        if self._conn is None:
            log_report(self.uri, parent_id, out)
            return
        self._conn.send(("log", (parent_id, out)))
        self._answer()

    def close(self) -> None:
        """End the store process: it logs nothing more. No order is in flight here, so one still importing
        MLflow or waiting for an order is stopped rather than waited for."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.terminate()
            self._process.join(timeout=5)
            self._process = None

    def _answer(self):
        assert self._conn is not None and self._process is not None
        try:
            kind, value = self._conn.recv()
        except (EOFError, OSError):
            self._process.join(timeout=5)
            raise StudyError(
                f"the report's store process ended without an answer (exit code {self._process.exitcode})"
            ) from None
        if kind == "study":
            raise StudyError(value)
        if kind == "crash":
            raise RuntimeError(f"the report's store process failed:\n{value}")
        return value

    def __enter__(self) -> StoreSide:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def _serve(conn: Connection, uri: str) -> None:
    """The store process: import MLflow and open the store, then read or log as the report asks, until it has
    logged, an order failed or the report closed the pipe. Ctrl-C is the report process's to handle: it
    closes the pipe, which ends this one."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _open(uri)
    while True:
        try:
            kind, args = conn.recv()
        except (EOFError, OSError):  # the report ended without logging (an error, or log_to_parent=False)
            return
        work = read_inputs if kind == "read" else log_report
        if not _reply(conn, work, uri, *args) or kind == "log":
            return


def _open(uri: str) -> None:
    """Import MLflow and open the store ahead of the report's orders; a store that cannot be opened says so
    when an order needs it."""
    try:
        from mlflow import MlflowClient

        MlflowClient(uri)
    except Exception:  # noqa: BLE001, S110 - the order that needs the store raises it
        pass


def _reply(conn: Connection, work: Callable[..., Any], *args) -> bool:
    """Send what `work` returns, or how it failed; whether it succeeded."""
    try:
        answer = ("ok", work(*args))
    except StudyError as exc:
        answer = ("study", str(exc))
    except Exception:  # noqa: BLE001 - sent to the report's process, which raises it
        answer = ("crash", traceback.format_exc())
    conn.send(answer)
    return answer[0] == "ok"
