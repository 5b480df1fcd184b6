"""What the store already holds of a study run that has nothing left to train: a quick look whether every
cell may be FINISHED, the parent run that lists exactly those runs, and where its report was stored.

The quick look reads a local SQLite store with the standard library (milliseconds, no MLflow import), so
`study run` decides before starting its training process whether it may have nothing to do; MLflow's own
query then decides.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection
from pathlib import Path
from urllib.parse import unquote, urlparse

from study.store.connect import sqlite_path
from study.store.contract import ROLE_PARENT, Artifact, Tag, tag_is

PARENTS_LOOKED_AT = 20  # newest FINISHED parent runs whose manifests are compared (one small file each)
COVERED = ("done", "skipped", "pruned")  # manifest statuses whose runs a finished study keeps
FINISHED_CELL_HASHES = """
    SELECT DISTINCT t.value FROM tags t
    JOIN runs r ON r.run_uuid = t.run_uuid
    JOIN experiments e ON e.experiment_id = r.experiment_id
    WHERE e.name = ? AND e.lifecycle_stage = 'active' AND r.lifecycle_stage = 'active'
      AND r.status = 'FINISHED' AND t.key = ?
"""


def may_all_be_finished(uri: str, study_name: str, config_hashes: Collection[str]) -> bool:
    """False when the store certainly lacks a FINISHED run of some cell (no store file, no such study, a cell
    never finished); True otherwise, also for stores it cannot read this way (a server, a newer schema)."""
    path = sqlite_path(uri)
    if path is None:
        return uri.startswith(("http://", "https://"))  # a server: only MLflow can tell
    if not path.is_file():
        return False
    try:
        con = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=5)
        try:
            found = {row[0] for row in con.execute(FINISHED_CELL_HASHES, (study_name, Tag.CONFIG_HASH))}
        finally:
            con.close()
    except sqlite3.Error:
        return True
    return set(config_hashes) <= found


def covering_parent(client, exp_id: str, run_ids: set[str], parent_filter: str) -> str | None:
    """The newest FINISHED parent run (matching `parent_filter` too) whose manifest lists exactly `run_ids` as
    trained, skipped or pruned, preferring one with a report; None when no parent ties those runs together."""
    from study.store.reader import read_manifest

    query = f"{tag_is(Tag.ROLE, ROLE_PARENT)} and attributes.status = 'FINISHED' and {parent_filter}"
    parents = client.search_runs(
        [exp_id], query, max_results=PARENTS_LOOKED_AT, order_by=["attributes.start_time DESC"]
    )
    covering = [
        p.info.run_id
        for p in parents
        if {e["run_id"] for e in read_manifest(client, p.info.run_id) or [] if e.get("status") in COVERED} == run_ids
    ]
    reported = (p for p in covering if stored_report(client, p) is not None)
    return next(reported, covering[0] if covering else None)


def stored_report(client, parent_id: str) -> str | None:
    """Where the report attached to the parent run is (a local path for a local store), or None without one."""
    folder = {a.path for a in client.list_artifacts(parent_id, Artifact.REPORT_DIR)}
    if Artifact.REPORT not in folder:
        return None
    root = client.get_run(parent_id).info.artifact_uri
    parsed = urlparse(root)
    if parsed.scheme in ("", "file"):
        return str(Path(unquote(parsed.path)) / Artifact.REPORT)
    return f"{root.rstrip('/')}/{Artifact.REPORT}"
