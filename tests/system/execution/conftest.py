"""Fixtures of the system tests of study/execution/: one real `mlflow server` and one local Ray instance for
the whole test session (with xdist: per worker), started on first use.

Sharing them, each test keeps to a study (an experiment) of its own name, or a store of its own, so what
another test wrote there cannot change what it asserts. A test that kills the server starts its own (see
its docstring); the Ray tests kill Ray workers, never the instance, which replaces them.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tracking_server import free_port, launch_server, stop_server

RAY_CPUS = 2  # the local cluster: two CPUs, whatever the machine has


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, blank_db: Path) -> Iterator[tuple[str, Path]]:
    """`mlflow server` on a copy of the blank store, for the session; yields (its URI, its SQLite file)."""
    root = tmp_path_factory.mktemp("server")
    db = Path(shutil.copy(blank_db, root / "server.db"))
    port = free_port()
    proc = launch_server(root, db, port)
    try:
        yield f"http://127.0.0.1:{port}", db
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def ray_cluster(mnist_dir: Path) -> Iterator[None]:
    """A local Ray instance on 127.0.0.1 with 2 CPUs, no dashboard, for the session; `connect` joins it,
    never owns it."""
    from study.execution.ray_backend import LOOPBACK_ENV

    os.environ.setdefault(LOOPBACK_ENV, "0")  # read once, when ray is imported: keep Ray on 127.0.0.1
    ray = pytest.importorskip("ray")
    ray.init("local", num_cpus=RAY_CPUS, include_dashboard=False, log_to_driver=False, logging_level=logging.ERROR)
    try:
        assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
        assert ray.cluster_resources()["CPU"] == RAY_CPUS
        yield
    finally:
        ray.shutdown()
