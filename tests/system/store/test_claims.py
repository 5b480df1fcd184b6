"""Claims and SIGKILL: a killed process not yet reaped is not alive, and a killed holder leaves no stale
claim (study/store/claims.py and `Store.claim`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.store.claims import process_alive, process_start
from tests.support.store import claimer

# --- process identity and liveness ----------------------------------------------------------------


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")
def test_a_killed_process_not_yet_reaped_is_not_alive():
    """A SIGKILLed child whose exit status nobody collected yet (a zombie: its pid still answers
    `kill -0`) has ended, as a Ray worker has before the raylet reaps it."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        tag = f"{socket.gethostname()}:{child.pid}:{process_start(child.pid)}"
        assert process_alive(tag) is True
        os.kill(child.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child did not become a zombie"
            time.sleep(0.01)
        os.kill(child.pid, 0)  # the pid still answers
        assert process_alive(tag) is False
    finally:
        child.kill()
        child.wait()


# --- the per-cell lock ----------------------------------------------------------------------------------


def test_a_killed_holder_leaves_no_stale_claim(blank_store):
    exp_id = blank_store.experiment_id("claims")
    proc = claimer(blank_store.uri, exp_id, hold=True)
    try:
        assert proc.stdout.readline().strip() == "claimed"
        assert blank_store.claim(exp_id, "abc", "d1") is None  # held by the other process
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    claim = blank_store.claim(exp_id, "abc", "d1")
    assert claim is not None  # the kernel dropped the dead holder's lock
    claim.release()
