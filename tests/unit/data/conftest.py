"""Shared by the data tests: a fresh data cache and no ambient STUDY_DATA_DIR for each test."""

from __future__ import annotations

import pytest

from study.data.idx import DATA_DIR_ENV
from study.data.sources import clear_cache


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    clear_cache()
    yield
    clear_cache()
