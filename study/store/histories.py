"""Metric histories of many runs at once, as one long DataFrame: the report's bulk read.

A SQLite store is read with the standard library in a few queries, each covering up to CHUNK runs and
every wanted metric, instead of one `get_metric_history` call per run and key (10,000 runs × 10 keys
were 100,000 calls). Other stores (a tracking server) are read through MLflow's client, one call per
run and key. Both give the points `get_metric_history` gives, in its order (timestamp, step, value
within a run and key), a NaN logged as NaN.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from study.store.connect import sqlite_path

if TYPE_CHECKING:
    from mlflow import MlflowClient

COLUMNS = ["run_id", "metric", "step", "value", "timestamp"]
CHUNK = 500  # run ids per query, well under SQLite's limit on bound parameters
# `+key`: look the runs up by their index; on a large store SQLite would otherwise scan every point of the keys
HISTORY_QUERY = """
    SELECT run_uuid AS run_id, key AS metric, step, value, is_nan, timestamp FROM metrics
    WHERE run_uuid IN ({runs}) AND +key IN ({keys})
    ORDER BY run_uuid, key, timestamp, step, value
"""


def metric_histories(client: MlflowClient, keys_by_run: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """Every point of the given metrics of the given runs: columns run_id, metric, step, value, timestamp."""
    wanted = {run_id: list(keys) for run_id, keys in keys_by_run.items() if keys}
    if not wanted:
        return empty_histories()
    path = sqlite_path(client.tracking_uri)
    if path is not None:
        try:
            return sqlite_histories(path, wanted)
        except sqlite3.Error:
            pass  # a schema this code does not know: MLflow's own reads below
    return _client_histories(client, wanted)


def empty_histories() -> pd.DataFrame:
    """The histories frame with no rows, its columns typed."""
    return _typed(pd.DataFrame({c: [] for c in COLUMNS}))


def sqlite_histories(path, keys_by_run: Mapping[str, Sequence[str]]) -> pd.DataFrame:
    """The points from the SQLite file, read-only, CHUNK runs a query; keys a run did not ask for dropped;
    sqlite3.Error for a file this code cannot read."""
    wanted = {run_id: list(keys) for run_id, keys in keys_by_run.items() if keys}
    if not wanted:
        return empty_histories()
    keys = sorted({k for run_keys in wanted.values() for k in run_keys})
    run_ids = list(wanted)
    con = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        frames = [
            pd.read_sql_query(
                HISTORY_QUERY.format(runs=marks(len(chunk)), keys=marks(len(keys))), con, params=[*chunk, *keys]
            )
            for chunk in chunks(run_ids, CHUNK)
        ]
    finally:
        con.close()
    points = pd.concat(frames, ignore_index=True)
    points["value"] = points["value"].astype(float).where(points.pop("is_nan") == 0, np.nan)
    if any(set(run_keys) != set(keys) for run_keys in wanted.values()):
        asked = pd.DataFrame([(r, k) for r, run_keys in wanted.items() for k in run_keys], columns=["run_id", "metric"])
        points = points.merge(asked, on=["run_id", "metric"])
    return _typed(points[COLUMNS])


def _client_histories(client: MlflowClient, wanted: dict[str, list[str]]) -> pd.DataFrame:
    """The points through MLflow's client: one `get_metric_history` call per run and key."""
    frames = [
        pd.DataFrame(
            [(run_id, key, p.step, p.value, p.timestamp) for p in client.get_metric_history(run_id, key)],
            columns=COLUMNS,
        )
        for run_id, keys in wanted.items()
        for key in keys
    ]
    return _typed(pd.concat(frames, ignore_index=True)) if frames else empty_histories()


def _typed(points: pd.DataFrame) -> pd.DataFrame:
    """The column types every reader of the frame relies on."""
    return points.astype({"step": np.int64, "value": float, "timestamp": np.int64})


def marks(n: int) -> str:
    """n SQL parameter placeholders."""
    return ", ".join("?" * n)


def chunks(items: list[str], size: int) -> Iterable[list[str]]:
    """The items in consecutive lists of at most `size`."""
    return (items[i : i + size] for i in range(0, len(items), size))
