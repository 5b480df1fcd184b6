"""Which process trains a cell (study/store/claims.py and `Store.claim`): process identity and liveness,
and the per-cell OS file lock, held against another process until released or until its holder dies."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from study.store.claims import CLAIMS_DIR, Claim, process_alive, process_start, process_tag

ROOT = Path(__file__).resolve().parents[2]

# In another process: open the store, try to claim the cell; print "claimed" or "taken"; with `hold`,
# keep the claim and wait for stdin to close (or for a kill).
CLAIMER = """
import sys
from study.store.runs import Store
uri, exp_id, config_hash, digest, hold = sys.argv[1:]
claim = Store(uri).claim(exp_id, config_hash, digest)
print("taken" if claim is None else "claimed", flush=True)
if hold == "hold":
    sys.stdin.read()
"""


def dead_pid() -> int:
    """A pid no process can have: one above the kernel's largest."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


def claimer(uri: str, exp_id: str, hold: bool = False) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", CLAIMER, uri, exp_id, "abc", "d1", "hold" if hold else "once"],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def claim_elsewhere(uri: str, exp_id: str) -> str:
    """What another process gets when it claims the cell now."""
    proc = claimer(uri, exp_id)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0
    return out.strip()


# --- process identity and liveness ----------------------------------------------------------------


def test_process_tag_names_host_pid_and_start():
    host, pid, start = process_tag().split(":")
    assert (host, int(pid)) == (socket.gethostname(), os.getpid())
    assert start == process_start(os.getpid()) and start.isdigit()


def test_this_process_is_alive():
    assert process_alive(process_tag()) is True
    assert process_alive(f"{socket.gethostname()}:{os.getpid()}:") is True  # no start time: the pid decides


def test_a_dead_pid_is_not_alive():
    assert process_start(dead_pid()) == ""
    assert process_alive(f"{socket.gethostname()}:{dead_pid()}:123") is False


def test_a_reused_pid_is_not_the_process_that_ran():
    """The pid lives, but its start time is not the one recorded: another process got the pid."""
    assert process_alive(f"{socket.gethostname()}:{os.getpid()}:1") is False


@pytest.mark.parametrize("tag", ["", "other-host.invalid:1:1", f"{socket.gethostname()}:not-a-pid:1"])
def test_unknown_or_foreign_processes_are_undecided(tag):
    assert process_alive(tag) is None


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


@pytest.mark.slow  # starts a process
def test_a_process_that_ended_is_not_alive():
    proc = subprocess.run(
        [sys.executable, "-c", "from study.store.claims import process_tag; print(process_tag())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    tag = proc.stdout.strip()
    assert tag.startswith(f"{socket.gethostname()}:") and tag != process_tag()
    assert process_alive(tag) is False


# --- the per-cell lock ----------------------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released(blank_store):
    exp_id = blank_store.experiment_id("claims")
    first = blank_store.claim(exp_id, "abc", "d1")
    assert isinstance(first, Claim) and first.fd is not None
    lock = Path(blank_store.uri.removeprefix("sqlite:///")).parent / CLAIMS_DIR / f"{exp_id}-abc-d1.lock"
    assert lock.is_file()
    assert blank_store.claim(exp_id, "abc", "d1") is None  # a second open file: even this process waits
    other = blank_store.claim(exp_id, "abc", "d2")  # another dataset is another cell
    assert other is not None
    first.release()
    assert first.fd is None
    first.release()  # releasing twice is harmless
    again = blank_store.claim(exp_id, "abc", "d1")
    assert again is not None
    again.release()
    other.release()


@pytest.mark.slow  # starts processes
def test_another_process_cannot_claim_a_held_cell(blank_store):
    exp_id = blank_store.experiment_id("claims")
    held = blank_store.claim(exp_id, "abc", "d1")
    assert held is not None
    assert claim_elsewhere(blank_store.uri, exp_id) == "taken"
    held.release()
    assert claim_elsewhere(blank_store.uri, exp_id) == "claimed"


@pytest.mark.slow  # starts a process and kills it
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
