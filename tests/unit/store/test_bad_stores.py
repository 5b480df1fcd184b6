"""A directory where the store's file should be, a file where its folder should be (study/store/connect): one line, exit 2.
The other bad stores are in tests/integration/store/test_bad_stores.py and, the servers that do not
answer, tests/system/store/test_bad_stores.py."""

from __future__ import annotations

import pytest

from tests.support.store import refused


def test_a_directory_at_the_store_path(tmp_cwd, capsys, monkeypatch):
    (tmp_cwd / "dir.db").mkdir()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_cwd / 'dir.db'}")
    assert "is a directory" in refused(["list"], capsys)


def test_a_file_where_the_store_folder_goes_is_one_line_and_left_alone(tmp_cwd):
    from study.errors import StudyError
    from study.store.connect import tracking_uri
    from study.store.runs import Store

    (tmp_cwd / "mlruns").write_text("notes\n", encoding="utf-8")
    for open_store in (tracking_uri, lambda: Store(f"sqlite:///{tmp_cwd / 'mlruns' / 'mlflow.db'}")):
        with pytest.raises(StudyError, match=r"mlruns: the store's folder is a file, not a directory: move it away"):
            open_store()
    assert (tmp_cwd / "mlruns").read_text(encoding="utf-8") == "notes\n"
