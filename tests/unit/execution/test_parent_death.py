"""How the training process ties its life to the driver's (study/execution/trainer_main.die_with): the
kernel's parent-death signal on Linux only, set through ctypes, and a watch thread everywhere; where the
signal cannot be set it says so and the watch alone remains. The watch itself: tests/system/execution/test_parent_watch.py."""

from __future__ import annotations

import ctypes
import os
import sys

import pytest

from study.execution import trainer_main


@pytest.mark.parametrize("failure", [OSError("no libc"), AttributeError("prctl"), TypeError("CDLL(None)")])
def test_the_death_signal_degrades_where_it_cannot_be_set(monkeypatch, failure):
    """macOS has no prctl (AttributeError), Windows cannot open the process's own C library (TypeError)."""

    def refuse(*args, **kwargs):
        raise failure

    monkeypatch.setattr(ctypes, "CDLL", refuse)
    assert trainer_main.parent_death_signal(9) is False


@pytest.mark.parametrize("platform, signal_set", [("linux", True), ("darwin", False), ("win32", False)])
def test_the_death_signal_is_asked_for_on_linux_only_and_the_watch_everywhere(monkeypatch, platform, signal_set):
    calls = []
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(trainer_main, "parent_death_signal", lambda sig: calls.append(("signal", sig)) or True)
    monkeypatch.setattr(trainer_main, "watch_parent", lambda parent: calls.append(("watch", parent)))
    trainer_main.die_with(os.getppid())
    assert [kind for kind, _ in calls] == (["signal", "watch"] if signal_set else ["watch"])


NO_PID = 2**31 - 1  # no system gives out this pid


@pytest.mark.parametrize("reparents", [True, False])
def test_a_live_parent_is_not_gone(reparents):
    assert trainer_main.parent_gone(os.getppid(), reparents)() is False


@pytest.mark.parametrize("reparents", [True, False])
def test_a_parent_no_process_is_is_gone_from_the_start(reparents):
    assert trainer_main.parent_gone(NO_PID, reparents)() is True


def test_where_orphans_are_reparented_another_parent_pid_means_gone():
    """This process's own pid lives, but is not its parent: the driver it was started by has ended."""
    assert trainer_main.parent_gone(os.getpid(), reparents=True)() is True


def test_where_orphans_keep_their_parent_pid_a_process_younger_than_this_one_is_not_the_parent(monkeypatch):
    """Windows: the parent's pid, given to a process created after this one, is someone else's now."""
    import psutil

    real = psutil.Process

    class Younger:
        def __init__(self, pid=None):
            self.pid = pid

        def create_time(self) -> float:
            mine = real().create_time()
            return mine + 10 if self.pid == 4242 else mine

    monkeypatch.setattr(psutil, "Process", Younger)
    assert trainer_main.parent_gone(4242, reparents=False)() is True
