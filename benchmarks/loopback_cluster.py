"""A Ray cluster of several nodes on one machine, as `ray start` makes one on real machines.

Each node is a head or a worker started with `ray start`, on 127.0.0.1, with a temp dir, a CPU count
and environment variables of its own (its own STUDY_DATA_DIR, say), all sharing one generated
token. The driver joins with `--address` and the environment of `driver_env()`. Used by the scale
benchmark and by the system test that keeps a study working across nodes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import psutil

TASK_NAME = ":task_name:"  # how a Ray worker's log marks the task it starts
JOIN_TIMEOUT_S = 120.0  # how long to wait for every node to register on a loaded machine


@dataclass
class LoopbackCluster:
    """The nodes' temp dirs, in start order (the head first), and the shared address and token."""

    address: str
    token: str
    ray: str
    temp_dirs: list[Path] = field(default_factory=list)

    def env(self) -> dict[str, str]:
        """What a process joining the cluster needs: token authentication and multi-node Ray on Linux."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": self.token}

    def driver_env(self) -> dict[str, str]:
        """The driver's environment: the study's own loopback setting plus the token."""
        return {**os.environ, **self.env()}

    def tasks_run(self) -> list[set[str]]:
        """Per node, the names of the tasks its workers ran, as Ray logs them (`:task_name:` lines in the
        node's worker logs); still readable once the driver and its workers are gone."""
        ran: list[set[str]] = []
        for temp in self.temp_dirs:
            logs = temp.glob("session_*/logs/worker-*.err")
            lines = (line for log in logs for line in log.read_text(errors="replace").splitlines())
            ran.append({line.removeprefix(TASK_NAME) for line in lines if line.startswith(TASK_NAME)})
        return ran

    def stop(self) -> None:
        """End this cluster's processes and theirs, and nothing else: `ray stop` would end every Ray
        instance of the machine, another test's too."""
        port = self.address.rsplit(":", 1)[1]
        marks = [str(temp) for temp in self.temp_dirs] + [f":{port}"]  # the client server names only the port
        me = {os.getpid(), *(parent.pid for parent in psutil.Process().parents())}
        ours = [proc for proc in psutil.process_iter(["cmdline"]) if proc.pid not in me and mentions(proc, marks)]
        family = {proc for top in ours for proc in [top, *safe_children(top)]}
        for proc in family:  # killed outright: the nodes are thrown away, and SIGTERM's shutdown takes seconds
            with contextlib.suppress(psutil.Error):
                proc.kill()
        psutil.wait_procs(list(family), timeout=10)

    def node_env(self, extra: Mapping[str, str]) -> dict[str, str]:
        env = {**os.environ, **self.env(), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "1", **extra}
        env.pop("RAY_ADDRESS", None)
        return env


def mentions(proc: psutil.Process, marks: list[str]) -> bool:
    line = " ".join(proc.info["cmdline"] or ())
    return any(mark in line for mark in marks)


def safe_children(proc: psutil.Process) -> list[psutil.Process]:
    try:
        return proc.children(recursive=True)
    except psutil.Error:
        return []


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def ray_command(python: str) -> str:
    """The `ray` script beside this Python, or the one on PATH."""
    beside = Path(python).parent / "ray"
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def start_cluster(
    root: Path, cpus: list[int], python: str, node_envs: list[Mapping[str, str]] | None = None
) -> LoopbackCluster:
    """Start len(cpus) nodes under `root` (node0 the head), each with its CPUs and extra environment;
    return once all have registered."""
    port = free_port()
    cluster = LoopbackCluster(f"127.0.0.1:{port}", secrets.token_hex(32), ray_command(python))
    envs = node_envs or [{} for _ in cpus]
    for index, (n_cpus, extra) in enumerate(zip(cpus, envs, strict=True)):
        temp = root / f"node{index}"
        temp.mkdir(parents=True, exist_ok=True)
        cluster.temp_dirs.append(temp)
        role = ["--address", cluster.address]
        if index == 0:  # every port of its own, so that another Ray instance on the machine cannot clash
            role = ["--head", "--port", str(port), "--include-dashboard", "false", "--dashboard-port", str(free_port())]
            role += ["--ray-client-server-port", str(free_port())]
        command = [cluster.ray, "start", *role, "--node-ip-address", "127.0.0.1", "--num-cpus", str(n_cpus)]
        command += ["--temp-dir", str(temp), "--disable-usage-stats"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=180, env=cluster.node_env(extra))
        if done.returncode != 0:
            cluster.stop()
            raise RuntimeError(f"ray start of node {index} failed: {done.stderr[-2000:]}")
    wait_for_nodes(cluster, len(cpus), python)
    return cluster


def wait_for_nodes(cluster: LoopbackCluster, n_nodes: int, python: str) -> None:
    """Block until the cluster lists n_nodes alive nodes (`ray start` of a worker returns before that)."""
    probe = f"import ray; ray.init({cluster.address!r}, logging_level='ERROR')\n"
    probe += "print(sum(node['Alive'] for node in ray.nodes()))"
    deadline = time.monotonic() + JOIN_TIMEOUT_S
    env = {**cluster.node_env({}), "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    while time.monotonic() < deadline:
        done = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=120, env=env)
        if done.returncode == 0 and done.stdout.strip().splitlines()[-1:] == [str(n_nodes)]:
            return
        time.sleep(1)
    cluster.stop()
    raise RuntimeError(f"the cluster at {cluster.address} did not list {n_nodes} nodes in {JOIN_TIMEOUT_S:.0f} s")
