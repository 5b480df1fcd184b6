"""`study ui`'s stop where there are no process groups (Windows): the server and its workers, found by
psutil as a process tree, are terminated (study/ui.py: stop_tree). Run here on real processes: a
parent that starts a worker, both ended; one that ignores SIGTERM is killed after the wait."""

from __future__ import annotations

import subprocess
import sys
import time

import psutil

from study import ui

SERVER = """
import signal, subprocess, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
print(worker.pid, flush=True)
time.sleep(120)
"""


def start(kind: str) -> tuple[subprocess.Popen, int]:
    server = subprocess.Popen([sys.executable, "-c", SERVER, kind], stdout=subprocess.PIPE, text=True)
    return server, int(server.stdout.readline())


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_the_server_and_its_worker_are_terminated():
    server, worker = start("plain")
    try:
        began = time.monotonic()
        ui.stop_tree(server.pid)
        assert time.monotonic() - began < ui.STOP_SECONDS  # ended by SIGTERM, no kill needed
        assert gone(server.pid) and gone(worker)
    finally:
        for pid in (server.pid, worker):
            if not gone(pid):
                psutil.Process(pid).kill()
        server.wait(timeout=10)


def test_a_server_that_ignores_terminate_is_killed(monkeypatch):
    monkeypatch.setattr(ui, "STOP_SECONDS", 0.5)
    server, worker = start("stubborn")
    try:
        began = time.monotonic()
        ui.stop_tree(server.pid)
        assert time.monotonic() - began >= ui.STOP_SECONDS  # given its time to end, then killed
        assert gone(server.pid) and gone(worker)
    finally:
        for pid in (server.pid, worker):
            if not gone(pid):
                psutil.Process(pid).kill()
        server.wait(timeout=10)


def test_a_server_already_gone_is_nothing_to_stop():
    server = subprocess.Popen([sys.executable, "-c", "pass"])
    server.wait(timeout=30)
    ui.stop_tree(server.pid)  # no error
