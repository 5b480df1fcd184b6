"""The MLflow schema a SQLite store must have: one this MLflow knows, and its current head. Working the head
out parses every migration script of MLflow's (~0.9 CPU-s a process), so the head of an MLflow version is
kept in the user's cache folder and a store at that head is let through without parsing."""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
from pathlib import Path

from study.errors import StudyError
from study.runtime.cache import cache_dir

HEAD_CACHE_FILE = "mlflow_schema_head.json"


def check_schema(path: Path, revision: str, folder: Path | None = None) -> None:
    """The store's schema must be one this MLflow knows, and current (MLflow upgrades nothing by itself)."""
    cache = (folder or cache_dir()) / HEAD_CACHE_FILE
    if revision == _cached_head(cache):
        return
    head = _parsed_head(path, revision)
    _remember_head(cache, head)
    if revision != head:
        import mlflow

        raise StudyError(
            f"{path}: an older MLflow schema ({revision}; MLflow {mlflow.__version__} uses {head}); back the file "
            f"up, then run `mlflow db upgrade sqlite:///{path}`"
        )


def _parsed_head(path: Path, revision: str) -> str:
    """The head of MLflow's migrations, read by alembic; StudyError if `revision` is not among them."""
    import mlflow
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    scripts = ScriptDirectory(str(_migrations().parent))
    try:
        scripts.get_revision(revision)
    except CommandError:
        raise StudyError(
            f"{path}: written by a newer MLflow (schema revision {revision}, unknown to MLflow {mlflow.__version__}); "
            "upgrade mlflow to open it"
        ) from None
    head = scripts.get_current_head()
    assert head is not None, "MLflow ships its migrations"
    return head


def _migrations() -> Path:
    """MLflow's folder of migration scripts (found without importing MLflow)."""
    spec = importlib.util.find_spec("mlflow")
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).parent / "store" / "db_migrations" / "versions"


def _fingerprint() -> str:
    """What the cached head belongs to: MLflow's version and the names of its migration scripts."""
    names = sorted(n for n in os.listdir(_migrations()) if n.endswith(".py"))
    digest = hashlib.sha256("\n".join(names).encode()).hexdigest()[:16]
    return f"mlflow {importlib.metadata.version('mlflow')} {digest}"


def _cached_head(cache: Path) -> str | None:
    """The head cached for this MLflow, or None (none yet, another version's, an unreadable file)."""
    try:
        doc = json.loads(cache.read_text(encoding="utf-8"))
        return str(doc["head"]) if doc.get("mlflow") == _fingerprint() else None
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def _remember_head(cache: Path, head: str) -> None:
    """Keep this MLflow's head for the next process; an unwritable cache only means parsing again."""
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps({"mlflow": _fingerprint(), "head": head}), encoding="utf-8")
    except OSError:
        pass
