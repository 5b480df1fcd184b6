"""This machine's matmul rate (study/runtime/rate.py): measured once, then read from the cache file; measured
again for another machine or an unreadable file; a dry run's new measurement replaces a lower cached one only."""

from __future__ import annotations

import json

from study.runtime import rate


def test_the_rate_is_measured_once_and_then_read_from_the_cache(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rate, "measure_rate", lambda: calls.append(1) or 5e10)
    assert rate.machine_rate(tmp_path) == 5e10
    assert rate.machine_rate(tmp_path) == 5e10 and len(calls) == 1
    doc = json.loads((tmp_path / rate.CACHE_FILE).read_text())
    assert doc["machine"] == rate.machine_key() and doc["flops_per_s"] == 5e10


def test_another_machine_or_a_broken_file_is_measured_again(tmp_path, monkeypatch):
    monkeypatch.setattr(rate, "measure_rate", lambda: 7e10)
    (tmp_path / rate.CACHE_FILE).write_text(json.dumps({"machine": "elsewhere", "flops_per_s": 1.0}))
    assert rate.machine_rate(tmp_path) == 7e10
    (tmp_path / rate.CACHE_FILE).write_text("{not json")
    assert rate.machine_rate(tmp_path) == 7e10


def test_remeasuring_keeps_the_best_rate_so_a_first_measurement_under_load_does_not_stay(tmp_path, monkeypatch):
    measured = iter([3e10, 9e10, 6e10])  # under load, then quiet, then loaded again: one a process
    monkeypatch.setattr(rate, "measure_rate", lambda: next(measured))
    monkeypatch.setattr(rate, "_REMEASURED", set())
    assert rate.machine_rate(tmp_path) == 3e10
    for _ in range(2):  # two dry runs, two processes
        monkeypatch.setattr(rate, "_REMEASURED", set())
        assert rate.machine_rate(tmp_path, remeasure=True) == 9e10
    assert rate.machine_rate(tmp_path) == 9e10  # read back: the cache holds the best
    assert json.loads((tmp_path / rate.CACHE_FILE).read_text())["flops_per_s"] == 9e10


def test_a_process_measures_again_once(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(rate, "measure_rate", lambda: calls.append(1) or 5e10)
    monkeypatch.setattr(rate, "_REMEASURED", set())
    for _ in range(3):
        assert rate.machine_rate(tmp_path, remeasure=True) == 5e10
    assert len(calls) == 1


def test_a_measured_rate_is_a_plausible_number_of_flops():
    assert 1e8 < rate.measure_rate() < 1e14
