"""A study run read from a SQLite store with the standard library alone: what a report reads, without the
~4.5 s that importing MLflow and its SQL store costs.

It reads the common case only: a study's latest parent run (or a given one) or a parent run id, whose
manifest and JSON artifacts lie in a local folder, with at least one finished cell. Anything else (another
kind of store, a name that is neither, no manifest, artifacts elsewhere, a schema this code does not
know) is None, and MLflow's client reads it, errors included. Runs and histories are read as
study/store/bulk_runs.py and histories.py read them for MLflow's path, so both give the same StudyRuns.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from study.store.bulk_runs import sqlite_runs_by_id
from study.store.connect import sqlite_path
from study.store.contract import ROLE_PARENT, Artifact, Tag
from study.store.histories import sqlite_histories
from study.store.reader import (
    CURVE_METRICS,
    FINISHED,
    StudyRuns,
    in_manifest_order,
    manifest_ids,
    study_runs,
    wanted_histories,
)

# The latest parent of an experiment, as MLflow's search orders it: start time, newest first, then run id.
LATEST_PARENT = """
    SELECT r.run_uuid FROM runs r JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = ? AND t.value = ?
    WHERE r.experiment_id = ? AND r.lifecycle_stage = 'active'
    ORDER BY r.start_time DESC, r.run_uuid LIMIT 1
"""
EXPERIMENT_BY_NAME = "SELECT experiment_id, name FROM experiments WHERE name = ? AND lifecycle_stage = 'active'"
EXPERIMENT_BY_ID = "SELECT experiment_id, name FROM experiments WHERE experiment_id = ? AND lifecycle_stage = 'active'"
RUN_EXPERIMENT = "SELECT experiment_id FROM runs WHERE run_uuid = ? AND lifecycle_stage = 'active'"
EXPERIMENT_NOTE = "SELECT value FROM experiment_tags WHERE experiment_id = ? AND key = ?"


@dataclass(frozen=True)
class DirectRead:
    """A parent run read directly: its read model, whether it is its study's latest, and its artifacts' folder."""

    runs: StudyRuns
    newest: bool
    artifacts: Path

    def json_artifact(self, name: str) -> Any:
        """A JSON artifact at the parent's top level, or None without it."""
        path = self.artifacts / name
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def read_directly(
    uri: str, target: str, run: str | None = None, curve_metrics=CURVE_METRICS, own_curves: bool = False
) -> DirectRead | None:
    """The parent run `target` names (a study, its parent `run`, or a parent run id) read from a SQLite store,
    its histories of `curve_metrics` (with `own_curves`, your own train.metrics' too); None where this module
    does not read it (module docstring)."""
    path = sqlite_path(uri)
    if path is None or not path.is_file():
        return None
    try:
        return _read(path, target, run, curve_metrics, own_curves)
    except (sqlite3.Error, OSError, ValueError, KeyError, TypeError):
        return None


def _read(path: Path, target: str, run: str | None, curve_metrics, own_curves: bool) -> DirectRead | None:
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        found = _experiment(con, target, run)
        if found is None:
            return None
        experiment_id, study, named = found
        latest = con.execute(LATEST_PARENT, (Tag.ROLE, ROLE_PARENT, experiment_id)).fetchone()
        note = con.execute(EXPERIMENT_NOTE, (experiment_id, Tag.NOTE)).fetchone()
    finally:
        con.close()
    parent_id = named or (latest[0] if latest is not None else None)
    if parent_id is None:
        return None
    parent = sqlite_runs_by_id(path, experiment_id, [parent_id]).get(parent_id)
    if parent is None or parent.data.tags.get(Tag.ROLE) != ROLE_PARENT:
        return None
    artifacts = local_folder(parent.info.artifact_uri)
    if artifacts is None or not (artifacts / Artifact.MANIFEST).is_file():
        return None
    manifest = json.loads((artifacts / Artifact.MANIFEST).read_text(encoding="utf-8"))
    children, unrun = in_manifest_order(manifest, sqlite_runs_by_id(path, experiment_id, manifest_ids(manifest)))
    if not any(child.info.status == FINISHED for child in children):
        return None
    histories = sqlite_histories(path, wanted_histories(children, curve_metrics, own_curves))
    runs = study_runs(study, note[0] if note else "", parent, children, unrun, histories)
    return DirectRead(runs, latest is not None and latest[0] == parent_id, artifacts)


def _experiment(con: sqlite3.Connection, target: str, run: str | None) -> tuple[str, str, str | None] | None:
    """(experiment id, study, the parent run id named, or None for the study's latest) of what `target` and
    `run` name; None where neither a study nor a run is found (MLflow's path says which)."""
    experiment = con.execute(EXPERIMENT_BY_NAME, (target,)).fetchone()
    if experiment is not None:
        return str(experiment[0]), experiment[1], run
    if run is not None:
        return None
    owner = con.execute(RUN_EXPERIMENT, (target,)).fetchone()
    experiment = con.execute(EXPERIMENT_BY_ID, (owner[0],)).fetchone() if owner is not None else None
    return (str(experiment[0]), experiment[1], target) if experiment is not None else None


def local_folder(artifact_uri: str) -> Path | None:
    """The folder of a `file://` (or plain path) artifact URI; None for artifacts elsewhere (a server, S3)."""
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file" and parsed.netloc in ("", "localhost"):
        return Path(url2pathname(parsed.path))
    if parsed.scheme == "" and artifact_uri.startswith("/"):
        return Path(artifact_uri)
    return None
