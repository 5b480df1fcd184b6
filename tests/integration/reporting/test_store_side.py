"""A report's work in the MLflow store done by a forked process of its own (study/reporting/store_side.py): the
same report and the same store afterwards as when the report's process does it, no MLflow imported by the
report's process, and what goes wrong there raised in the report's process as one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

from study.errors import StudyError
from study.reporting import store_side
from study.reporting.write import write_report
from study.store.contract import Artifact, Tag
from study.store.reader import find_experiment, find_parent
from tests.support.paths import REPO
from tests.support.student_store import build_student_store

TABLES = ("summary.csv", "runs.csv", "effects.csv", "curves.csv")


def _forked(monkeypatch) -> None:
    """A store process forked whatever threads earlier tests in this process left (the policy: forking.py)."""
    monkeypatch.setenv("STUDY_REPORT_WORKERS", "2")
    monkeypatch.setattr(store_side, "can_fork", lambda: True)


def _parent(uri: str):
    client = MlflowClient(uri)
    return client, find_parent(client, find_experiment(client, "student"))


def _without_its_time(html: Path) -> list[str]:
    return [line for line in html.read_text(encoding="utf-8").splitlines() if "Report generated" not in line]


def test_the_store_process_reads_and_logs_what_the_report_process_would(tmp_path, blank_db, monkeypatch):
    uri = build_student_store(tmp_path, blank_db)
    monkeypatch.setenv("STUDY_REPORT_WORKERS", "1")
    here = write_report("student", tmp_path / "here", tracking_uri=uri)
    client, parent = _parent(uri)
    described = client.get_run(parent.info.run_id).data.tags[Tag.NOTE]
    _forked(monkeypatch)
    forked = write_report("student", tmp_path / "forked", tracking_uri=uri)
    for name in TABLES:
        assert (forked.parent / name).read_bytes() == (here.parent / name).read_bytes(), name
    assert _without_its_time(forked) == _without_its_time(here)
    pngs = sorted(p.name for p in (here.parent / "figures").glob("*.png"))
    assert pngs and sorted(p.name for p in (forked.parent / "figures").glob("*.png")) == pngs
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, Artifact.REPORT_DIR)}
    assert {f"{Artifact.REPORT_DIR}/report.html", f"{Artifact.REPORT_DIR}/summary.csv"} <= logged
    assert client.get_run(parent.info.run_id).data.tags[Tag.NOTE] == described  # the Description, refreshed alike


@pytest.mark.parametrize("read", ["by the store process", "directly"])
def test_the_report_process_imports_no_mlflow(tmp_path, blank_db, hand_store, read):
    """The student store's parent has no manifest (MLflow's client reads it, in the store process); the
    toy study's latest has one, and the report's process reads it itself (study/store/direct_read.py)."""
    if read == "directly":
        uri, study = hand_store["uri"], "toy"
    else:
        uri, study = build_student_store(tmp_path, blank_db), "student"
    code = (
        "import sys; from study.reporting.write import write_report; "
        "write_report(sys.argv[3], sys.argv[2], tracking_uri=sys.argv[1]); "
        "print(sorted(m for m in ('mlflow', 'sqlalchemy', 'alembic') if m in sys.modules))"
    )
    env = {**os.environ, "STUDY_REPORT_WORKERS": "2", "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-c", code, uri, str(tmp_path / "out"), study],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
    client = MlflowClient(uri)
    parent = find_parent(client, find_experiment(client, study))
    logged = {a.path for a in client.list_artifacts(parent.info.run_id, Artifact.REPORT_DIR)}
    assert f"{Artifact.REPORT_DIR}/report.html" in logged
    assert "report/report.html" in client.get_run(parent.info.run_id).data.tags[Tag.NOTE]  # the Description links it


def test_the_store_processs_error_is_the_reports_one_line_and_nothing_is_written(tmp_path, blank_db, monkeypatch):
    uri = build_student_store(tmp_path, blank_db)
    _forked(monkeypatch)
    with pytest.raises(
        StudyError, match=r"^'nosuch' is neither a study nor a parent run id in the MLflow store; studies: student$"
    ):
        write_report("nosuch", tmp_path / "out", tracking_uri=uri)
    assert not (tmp_path / "out").exists()


def test_a_store_process_that_dies_is_one_line(tmp_path, blank_db, monkeypatch):
    uri = build_student_store(tmp_path, blank_db)
    _forked(monkeypatch)
    monkeypatch.setattr(store_side, "read_inputs", lambda *args: os._exit(3))  # as the OOM killer would end it
    with pytest.raises(StudyError, match=r"the report's store process ended without an answer \(exit code 3\)"):
        write_report("student", tmp_path / "out", tracking_uri=uri)
    assert not (tmp_path / "out").exists()
