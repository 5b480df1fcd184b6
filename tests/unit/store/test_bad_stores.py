"""A directory where the store's file should be (study/store/connect.check_store): one line, exit 2.
The other bad stores are in tests/integration/store/test_bad_stores.py and, the servers that do not
answer, tests/system/store/test_bad_stores.py."""

from __future__ import annotations

from tests.support.store import refused


def test_a_directory_at_the_store_path(tmp_cwd, capsys, monkeypatch):
    (tmp_cwd / "dir.db").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_cwd / 'dir.db'}")
    assert "is a directory" in refused(["list"], capsys)
