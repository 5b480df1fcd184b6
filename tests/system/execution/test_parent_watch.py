"""The training process's portable watch on its driver (study/execution/trainer_main.watch_parent),
without Linux's parent-death signal: a stand-in driver starts a child that only watches it, and is
killed with SIGKILL; the child must end within a few polls. Both routes are run on this system: the
POSIX one (the child is reparented) and the one Windows takes (psutil sees the parent end: here a
zombie until the test collects it, then no process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from study.store.claims import pid_alive
from tests.support.paths import REPO

POLL_S = 0.05

CHILD = """
import sys, time
from study.execution.trainer_main import watch_parent
watch_parent(int(sys.argv[1]), poll_s=float(sys.argv[2]), reparents=sys.argv[3] == "reparents")
print("watching", flush=True)
time.sleep(120)
"""

DRIVER = """
import os, subprocess, sys
child = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(os.getpid()), sys.argv[2], sys.argv[3]])
print(child.pid, flush=True)
child.wait()
"""

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="kills with SIGKILL")


def ended_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("route", ["reparents", "psutil"])
@pytest.mark.parametrize("collect", [False, True], ids=["parent-a-zombie", "parent-collected"])
def test_the_watch_ends_the_child_when_its_parent_is_killed(route, collect):
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER, CHILD, str(POLL_S), route],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    child = None
    try:
        child = int(driver.stdout.readline())
        assert driver.stdout.readline().strip() == "watching"
        assert not ended_within(child, 0.5)  # while the parent lives, the child goes on
        os.kill(driver.pid, signal.SIGKILL)
        if collect:
            driver.wait(timeout=30)
        assert ended_within(child, 10), f"the child outlived its killed parent ({route})"
    finally:
        if child is not None and pid_alive(child):
            os.kill(child, signal.SIGKILL)
        if driver.poll() is None:
            driver.kill()
        driver.wait(timeout=30)
