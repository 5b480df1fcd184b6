"""`study list` without a store, or on an empty one, says how to start and creates nothing. The studies of a real store: tests/integration/store/test_inventory.py."""

from __future__ import annotations

from study.cli import main


def test_no_store_says_how_to_start_and_creates_none(tmp_cwd, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.strip()
    assert (
        out
        == f"no studies in sqlite:///{tmp_cwd / 'mlruns' / 'mlflow.db'} yet (no store there): run `study run configs/smoke.yaml`"
    )
    assert list(tmp_cwd.iterdir()) == []  # reading never makes a store (docs/api.md)


def test_an_empty_store_says_how_to_start(blank_store, tmp_cwd, capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == f"no studies in sqlite:///{tmp_cwd / 'mlruns' / 'mlflow.db'} yet: run `study run configs/smoke.yaml`"
