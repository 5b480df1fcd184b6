"""Which process trains a cell (study/store/claims.py and `Store.claim`): process identity and liveness,
and the per-cell OS file lock, exclusive until released. Against other processes:
tests/integration/store/test_claims.py and (killed ones) tests/system/store/test_claims.py."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from study.store.claims import CLAIMS_DIR, Claim, process_alive, process_start, process_tag


def dead_pid() -> int:
    """A pid no process can have: one above the kernel's largest."""
    return int(Path("/proc/sys/kernel/pid_max").read_text()) + 1


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


# --- the per-cell lock ----------------------------------------------------------------------------------


def test_a_claim_is_exclusive_until_released(blank_store):
    exp_id = blank_store.experiment_id("claims")
    first = blank_store.claim(exp_id, "abc", "d1")
    assert isinstance(first, Claim) and first.lock is not None
    lock = Path(blank_store.uri.removeprefix("sqlite:///")).parent / CLAIMS_DIR / f"{exp_id}-abc-d1.lock"
    assert lock.is_file()
    assert blank_store.claim(exp_id, "abc", "d1") is None  # a second open file: even this process waits
    other = blank_store.claim(exp_id, "abc", "d2")  # another dataset is another cell
    assert other is not None
    first.release()
    assert first.lock is None
    first.release()  # releasing twice is harmless
    again = blank_store.claim(exp_id, "abc", "d1")
    assert again is not None
    again.release()
    other.release()
