"""Process identity and liveness (study/store/claims.py), through psutil: this process lives, a pid no
process has does not, and a live pid whose start time is not the recorded one is another process."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import psutil
import pytest

from study.store.claims import pid_alive, process_alive, process_start, process_tag

HOST = socket.gethostname()
NO_PID = 2**31 - 1  # no system gives out this pid (Linux's pid_max is at most 2**22, Windows' pids are multiples of 4)


def test_this_process_is_alive_under_its_own_tag():
    assert pid_alive(os.getpid())
    assert process_alive(process_tag()) is True
    assert process_alive(f"{HOST}:{os.getpid()}:") is True  # no start recorded: the pid decides


def test_a_pid_no_process_has_is_not_alive():
    assert not psutil.pid_exists(NO_PID)
    assert pid_alive(NO_PID) is False
    assert process_start(NO_PID) == ""
    assert process_alive(f"{HOST}:{NO_PID}:123") is False


def test_a_reused_pid_is_not_the_recorded_holder():
    """The pid runs, but not since the recorded start: another process got the pid."""
    start = process_start(os.getpid())
    assert start.isdigit()
    assert process_alive(f"{HOST}:{os.getpid()}:{int(start) + 1}") is False
    assert process_alive(f"{HOST}:{os.getpid()}:1") is False


def test_the_start_is_stable_from_call_to_call():
    assert process_start(os.getpid()) == process_start(os.getpid()) == process_tag().rsplit(":", 1)[1]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's start time in clock ticks")
def test_on_linux_the_start_is_the_kernels_clock_ticks_as_tags_written_before_carry():
    """The same digits as /proc/<pid>/stat's start time, which the store's older tags hold."""
    ticks = Path(f"/proc/{os.getpid()}/stat").read_text().rsplit(")", 1)[1].split()[19]
    assert process_start(os.getpid()) == ticks
    parent = os.getppid()
    assert process_start(parent) == Path(f"/proc/{parent}/stat").read_text().rsplit(")", 1)[1].split()[19]


def test_a_process_that_may_not_be_inspected_counts_as_alive(monkeypatch):
    """Another user's process: psutil may refuse to look (AccessDenied); it runs all the same."""

    class Refused:
        def __init__(self, pid):
            raise psutil.AccessDenied(pid)

    monkeypatch.setattr(psutil, "Process", Refused)
    assert pid_alive(12345) is True


def test_a_zombie_has_ended(monkeypatch):
    class Zombie:
        def __init__(self, pid):
            pass

        def status(self):
            return psutil.STATUS_ZOMBIE

    monkeypatch.setattr(psutil, "Process", Zombie)
    assert pid_alive(12345) is False


@pytest.mark.parametrize("tag", ["", "other-host.invalid:1:1", f"{HOST}:not-a-pid:1", f"{HOST}:-5:1"])
def test_tags_of_other_hosts_or_without_a_pid_are_undecided(tag):
    assert process_alive(tag) is None
