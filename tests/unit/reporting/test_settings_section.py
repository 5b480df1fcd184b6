"""The settings section's inert settings (study/reporting/settings_section.py) on a runs table: the same
answer looking at each distinct set of settings once, a run that cannot be rebuilt giving none."""

from __future__ import annotations

import pandas as pd

from study.reporting import settings_section


def runs(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame([{f"params.{k}": v for k, v in row.items()} for row in rows])


SGD = {"optimizer.name": "sgd", "optimizer.momentum": "0.9", "model.batch_norm": "off", "model.bn_momentum": "0.9"}
ADAM = {**SGD, "optimizer.name": "adam"}


def test_settings_inert_in_every_run_each_distinct_run_looked_at_once(monkeypatch):
    seen = []
    rebuild = settings_section.settings_of_run
    monkeypatch.setattr(settings_section, "settings_of_run", lambda run: seen.append(dict(run)) or rebuild(run))
    inert = settings_section.inert_everywhere(runs(SGD, SGD, ADAM, ADAM, SGD))
    assert len(seen) == 2  # five runs (seeds), two distinct sets of settings
    assert "model.bn_momentum" in inert  # batch norm off everywhere
    assert "optimizer.beta_1" not in inert  # inert with sgd, read by adam
