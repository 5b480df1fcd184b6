"""Bad `search:` entries through `study run`: one line, exit 2, nothing written. The searches that run
are in tests/integration/execution/test_search.py, the kill tests in tests/system/execution/test_search.py."""

from __future__ import annotations

import json

import pytest

from tests.support.runs import cli_run
from tests.support.searches import BAD_SEARCH, assert_refused, good

# --- bad input: one line, exit 2, nothing written -------------------------------------------------------


@pytest.mark.parametrize("case", BAD_SEARCH, ids=BAD_SEARCH)
def test_bad_search_entries_are_refused_with_one_line_and_nothing_written(case, tmp_cwd, capsys):
    change, needle = BAD_SEARCH[case]
    doc = good()
    change(doc)
    path = tmp_cwd / "bad.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert_refused(tmp_cwd, cli_run(path), capsys.readouterr().err, needle)
