"""`study list` on an empty store says how to start. The studies of a real store: tests/integration/store/test_inventory.py."""

from __future__ import annotations

from study.cli import main


def test_an_empty_store_says_how_to_start(tmp_cwd, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("no studies in sqlite:///") and out.endswith("yet: run `study run configs/smoke.yaml`")
