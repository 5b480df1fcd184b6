"""A store's MLflow schema (study/store/schema.py): the head of MLflow's migrations is parsed once and kept in
the cache folder, a store at that head then opens without parsing, and an unknown or older revision is still
refused in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from study.errors import StudyError
from study.store import schema


@pytest.fixture(scope="module")
def head() -> str:
    return schema._parsed_head(Path("mlflow.db"), _any_revision())


def _any_revision() -> str:
    """A revision MLflow knows: the first migration script's."""
    name = sorted(p.name for p in schema._migrations().glob("*.py") if not p.name.startswith("__"))[0]
    return name.split("_", 1)[0]


def test_the_head_is_parsed_once_and_then_read_from_the_cache(tmp_path, head, monkeypatch):
    schema.check_schema(Path("mlflow.db"), head, tmp_path)
    assert json.loads((tmp_path / schema.HEAD_CACHE_FILE).read_text())["head"] == head
    monkeypatch.setattr(schema, "_parsed_head", lambda *a: pytest.fail("parsed again"))
    schema.check_schema(Path("mlflow.db"), head, tmp_path)


def test_another_mlflows_cached_head_is_not_trusted(tmp_path, head, monkeypatch):
    (tmp_path / schema.HEAD_CACHE_FILE).write_text(json.dumps({"mlflow": "mlflow 0.1 x", "head": "feedbeef"}))
    parsed = []
    monkeypatch.setattr(schema, "_parsed_head", lambda *a: parsed.append(a) or head)
    with pytest.raises(StudyError, match="an older MLflow schema"):
        schema.check_schema(Path("mlflow.db"), "feedbeef", tmp_path)
    assert parsed and json.loads((tmp_path / schema.HEAD_CACHE_FILE).read_text())["head"] == head


def test_an_older_or_unknown_revision_is_refused_with_the_head_cached(tmp_path, head):
    schema.check_schema(Path("mlflow.db"), head, tmp_path)
    with pytest.raises(
        StudyError, match=rf"mlflow.db: an older MLflow schema \({_any_revision()}; MLflow .* uses {head}\)"
    ):
        schema.check_schema(Path("mlflow.db"), _any_revision(), tmp_path)
    with pytest.raises(StudyError, match="written by a newer MLflow .*schema revision 0123abcd"):
        schema.check_schema(Path("mlflow.db"), "0123abcd", tmp_path)
