"""System metrics of a cell run (study/store/system.py): MLflow's monitor on an explicit store, its
thread stopped with the run, and a final sample for cells shorter than the sampling interval."""

from __future__ import annotations

import threading
import time

from study.store.system import CellMonitor, new_monitor, start_monitor, stop_monitor

NAMES = {
    "system/cpu_utilization_percentage",
    "system/system_memory_usage_megabytes",
    "system/system_memory_usage_percentage",
    "system/disk_usage_percentage",
}


def monitor_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "SystemMetricsMonitor"]


def test_samples_while_running_and_once_more_at_the_end(blank_store):
    run_id = blank_store.client.create_run(blank_store.experiment_id("sys")).info.run_id
    monitor = CellMonitor(blank_store.uri, run_id, 0.3)
    monitor.start()
    deadline = time.monotonic() + 60
    while not blank_store.client.get_metric_history(run_id, "system/cpu_utilization_percentage"):
        assert time.monotonic() < deadline, "the monitor published nothing in a minute"
        time.sleep(0.1)
    monitor.stop()
    assert not monitor_threads()
    metrics = blank_store.client.get_run(run_id).data.metrics
    assert NAMES <= set(metrics)
    steps = [m.step for m in blank_store.client.get_metric_history(run_id, "system/cpu_utilization_percentage")]
    assert steps == list(range(len(steps))) and len(steps) >= 2  # the thread's samples, then the final one
    assert 0 <= metrics["system/cpu_utilization_percentage"] <= 100
    assert metrics["system/system_memory_usage_megabytes"] > 0


def test_a_run_shorter_than_the_interval_still_gets_one_sample(blank_store):
    run_id = blank_store.client.create_run(blank_store.experiment_id("sys")).info.run_id
    monitor = new_monitor(True, blank_store.uri, run_id, 600.0)
    start_monitor(monitor)
    stop_monitor(monitor)
    assert not monitor_threads()
    history = blank_store.client.get_metric_history(run_id, "system/system_memory_usage_megabytes")
    assert [m.step for m in history] == [0] and history[0].value > 0


def test_switched_off_there_is_no_monitor():
    assert new_monitor(False, "sqlite:///unused.db", "run", 10.0) is None
    start_monitor(None)
    stop_monitor(None)
