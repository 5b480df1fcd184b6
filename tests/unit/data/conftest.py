"""Shared by the data tests: a fresh data cache and no ambient STUDY_DATA_DIR for each test."""

from __future__ import annotations

import pytest

from study import data


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
    data.clear_cache()
    yield
    data.clear_cache()
