"""Fixtures of the system tier: the Chromium the browser tests drive."""

from __future__ import annotations

import shutil

import pytest


@pytest.fixture
def chromium() -> str:
    """Debian's chromium binary; skips the test where it is not installed."""
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("no `chromium` on PATH (Debian: apt-get install chromium)")
    return path
