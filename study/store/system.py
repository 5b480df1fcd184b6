"""System metrics of a cell run: MLflow's own monitor (CPU %, memory, disk, network; GPU where there is one),
sampled on its thread while the cell trains, plus one last sample when the cell ends.

MLflow's monitor only publishes after a whole sampling interval, so a cell shorter than the interval
would get none; `CellMonitor.stop` therefore takes and publishes a final sample: every cell run has
`system/*` metrics, and a sample's CPU % covers the time since the previous sample. Metric names are
MLflow's (`system/cpu_utilization_percentage`, `system/system_memory_usage_megabytes`, …).
"""

from __future__ import annotations

import logging

MONITOR_LOGGER = "mlflow.system_metrics.system_metrics_monitor"  # says "started / stopped" at INFO per run


class CellMonitor:
    """MLflow's SystemMetricsMonitor on one run of an explicit store (no global tracking URI)."""

    def __init__(self, tracking_uri: str, run_id: str, interval_s: float):
        from mlflow.system_metrics.system_metrics_monitor import SystemMetricsMonitor

        logging.getLogger(MONITOR_LOGGER).setLevel(logging.WARNING)  # no two lines per cell on the console
        self.monitor = SystemMetricsMonitor(run_id, sampling_interval=interval_s, tracking_uri=tracking_uri)

    def start(self) -> None:
        """Start sampling. psutil keeps the CPU % reference per thread: call `start` and `stop` on the same
        thread (the writer's), so the final sample's CPU % covers the cell from start to end."""
        import psutil

        psutil.cpu_percent()  # this thread's reference point
        self.monitor.start()

    def stop(self) -> None:
        """Stop the sampling thread (it wakes at once), then publish one sample covering the time since
        the last one and flush; call it before the run's end status is written."""
        monitor = self.monitor
        monitor.finish()  # sets the shutdown event and joins the thread
        for each in monitor.monitors:  # samples taken but not published: the next one covers their time
            each.clear_metrics()
        monitor.collect_metrics()
        monitor.publish_metrics(monitor.aggregate_metrics())
        monitor.mlflow_logger.flush()


def new_monitor(enabled: bool, tracking_uri: str, run_id: str, interval_s: float) -> CellMonitor | None:
    """A monitor for the cell's run (not started), or None with `tracking.system_metrics: false`."""
    return CellMonitor(tracking_uri, run_id, interval_s) if enabled else None


def start_monitor(monitor: CellMonitor | None) -> None:
    """Start a cell's monitor (on the writer thread, once the run exists); nothing without one."""
    if monitor is not None:
        monitor.start()


def stop_monitor(monitor: CellMonitor | None) -> None:
    """Stop a cell's monitor (on the writer thread, before the run ends); nothing without one."""
    if monitor is not None:
        monitor.stop()
