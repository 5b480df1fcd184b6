"""The many-tiny-cells study past one machine, simulated here: two Ray nodes and a tracking server.

    STUDY_DATA_DIR=/path/to/mnist python -m benchmarks.scale_cluster [--nodes 2] [--config benchmarks/scale_200.yaml]

A head and a second node are started with `ray start` on 127.0.0.1 (one CPU, a temp dir and a copy of the
MNIST files each, as on two machines), an `mlflow server` with proxied artifacts (`--artifacts-destination`:
workers upload through it) holds the runs, and `study run CONFIG --backend ray --address …` drives the study
from a fresh folder. Checked: every cell FINISHED once, both nodes ran cells (Ray's own logs), nothing but
the study file in the driver's folder. The fixed cost per cell, in node time = (the run's own wall time ×
nodes − the cells' summed `wall_time_s`) / cells: what a cell costs a node beyond its model's build, trace
and training. This is a benchmark, not a test (tests/system/execution/test_ray_cluster.py keeps a small
study working across the same cluster). Results: benchmarks/results/scale_cluster.json.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from pathlib import Path

from benchmarks.loopback_cluster import free_port, start_cluster
from benchmarks.record import require_data_dir, results_header, write_results
from study.data.idx import DATA_DIR_ENV

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG = "benchmarks/scale_200.yaml"
SERVER_READY_S = 180.0


def start_server(root: Path) -> tuple[subprocess.Popen, str]:
    """`mlflow server` on a SQLite file under `root`, artifacts proxied to `root/artifacts`; (process, URI)."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{root / 'server.db'}",
        "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
        "--workers", "2",
    ]  # fmt: skip
    log = open(root / "server.log", "ab")  # noqa: SIM115 - the server writes it for its whole life
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    uri, deadline = f"http://127.0.0.1:{port}", time.monotonic() + SERVER_READY_S
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{uri}/health", timeout=2) as reply:
                if reply.status == 200:
                    return proc, uri
        except OSError:
            time.sleep(0.5)
    os.killpg(proc.pid, 9)
    raise SystemExit(f"mlflow server did not start: {(root / 'server.log').read_text()[-2000:]}")


def cells_of(uri: str) -> list[tuple[str, str, float]]:
    """Every cell run on the server: (config hash, status, wall_time_s or nan)."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    out = []
    for exp in client.search_experiments():
        runs = client.search_runs([exp.experiment_id], "tags.`study.role` = 'cell'", max_results=50_000)
        out += [
            (r.data.tags.get("study.config_hash", ""), r.info.status, r.data.metrics.get("wall_time_s", float("nan")))
            for r in runs
        ]
    return out


def node_data(work: Path, nodes: int) -> list[dict[str, str]]:
    """Each node's environment: its own copy of the data files, as a node on another machine has."""
    source = Path(os.environ[DATA_DIR_ENV])
    envs = []
    for index in range(nodes):
        copy = work / f"data{index}"
        copy.mkdir()
        for file in (f for f in source.iterdir() if f.is_file()):
            shutil.copy(file, copy / file.name)
        envs.append({DATA_DIR_ENV: str(copy)})
    return envs


def run_on_cluster(config: str, nodes: int, work: Path) -> dict:
    """The study across a fresh cluster of `nodes` one-CPU nodes and a fresh server; what it cost."""
    server, uri = start_server(work)
    cluster = start_cluster(work / "ray", [1] * nodes, sys.executable, node_data(work, nodes))
    try:
        driver = work / "driver"
        driver.mkdir()
        local = driver / Path(config).name
        shutil.copyfile(ROOT / config, local)
        env = {**cluster.driver_env(), "MLFLOW_TRACKING_URI": uri}
        cmd = [sys.executable, "-m", "study.cli", "run", local.name, "--quiet", "--backend", "ray"]
        load, t0 = os.getloadavg()[0], time.perf_counter()
        proc = subprocess.run([*cmd, "--address", cluster.address], cwd=driver, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stdout}\n{proc.stderr}")
        inside = re.search(r"([\d.]+)s in all", proc.stdout)
        cells = cells_of(uri)
        ran = cluster.tasks_run()
    finally:
        cluster.stop()
        os.killpg(server.pid, 15)
        server.wait(30)
    own = float(inside.group(1)) if inside else wall
    finished = [c for c in cells if c[1] == "FINISHED"]
    trained = sum(c[2] for c in finished)
    return {
        "nodes": nodes,
        "seconds": wall,
        "run_seconds": own,
        "cells": len(cells),
        "finished": len(finished),
        "finished_twice": sum(n > 1 for n in Counter(c[0] for c in finished).values()),
        "cells_per_node": [len(r) for r in ran],
        "training_seconds": trained,
        "fixed_per_cell": (own * nodes - trained) / max(len(finished), 1),
        "driver_files": sorted(p.name for p in driver.iterdir()),
        "load_before": load,
        "load_after": os.getloadavg()[0],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scale_cluster", description=__doc__.splitlines()[0])
    p.add_argument("--config", default=DEFAULT_CONFIG, help="the study of many tiny cells (default: %(default)s)")
    p.add_argument("--nodes", type=int, default=2)
    p.add_argument("--out", help="results file (default benchmarks/results/scale_cluster.json)")
    a = p.parse_args(argv)
    require_data_dir()
    with tempfile.TemporaryDirectory(prefix="scl-") as tmp:  # short: Ray's socket paths stay under 108 bytes
        run = run_on_cluster(a.config, a.nodes, Path(tmp))
    print(
        f"{run['finished']} of {run['cells']} cells FINISHED ({run['finished_twice']} twice), per node "
        f"{run['cells_per_node']}; run {run['run_seconds']:.1f} s, cells' training {run['training_seconds']:.1f} s, "
        f"fixed cost {run['fixed_per_cell']:.3f} node-s a cell; driver folder: {run['driver_files']}"
    )
    argv_used = argv if argv is not None else sys.argv[1:]
    doc = {
        **results_header(
            "the many-tiny-cells study on a two-node loopback Ray cluster", "benchmarks.scale_cluster", argv_used
        ),
        "config": a.config,
        "run": run,
    }
    print(f"results: {write_results('scale_cluster', doc, a.out)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
