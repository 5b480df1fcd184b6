"""The unit tier's guard (tests/support/guard.py, armed by tests/conftest.py) refuses what a unit test
may not do: start a process, open a network connection, import TensorFlow."""

from __future__ import annotations

import multiprocessing
import os
import socket
import subprocess
import sys
import types

import pytest

from tests.support.guard import Guard, TierViolation


def test_this_test_is_marked_unit_and_nothing_else(request):
    assert request.node.get_closest_marker("unit") is not None
    assert request.node.get_closest_marker("integration") is None
    assert request.node.get_closest_marker("system") is None


def test_a_subprocess_is_refused(unit_tier_rules):
    with pytest.raises(TierViolation, match=r"starts a subprocess \(subprocess.Popen\).*move it to tests/integration"):
        subprocess.run([sys.executable, "-c", "pass"])
    unit_tier_rules.violations.clear()  # refused, as this test wants


def test_a_multiprocessing_process_is_refused(unit_tier_rules):
    with pytest.raises(TierViolation, match=r"starts a process \(multiprocessing\)"):
        multiprocessing.get_context("spawn").Process(target=print).start()
    unit_tier_rules.violations.clear()


def test_a_fork_is_refused(unit_tier_rules):
    with pytest.raises(TierViolation, match=r"forks \(os.fork\)"):
        os.fork()
    unit_tier_rules.violations.clear()


def test_a_network_connection_is_refused_even_to_loopback(unit_tier_rules):
    with pytest.raises(TierViolation, match=r"opens a network connection \(socket.connect"):
        socket.create_connection(("127.0.0.1", 9), timeout=1)
    unit_tier_rules.violations.clear()


def test_a_refusal_the_code_swallowed_still_fails_the_test(unit_tier_rules):
    try:
        subprocess.run(["true"])
    except BaseException:  # noqa: B036  (code under test that hides every error)
        pass
    assert [v.splitlines()[0] for v in unit_tier_rules.problems()] == ["starts a subprocess (subprocess.Popen)"]
    unit_tier_rules.violations.clear()


def test_a_socket_pair_and_pickling_a_guarded_callable_are_fine():
    left, right = socket.socketpair()  # local IPC, not a network connection
    with left, right:
        left.sendall(b"x")
        assert right.recv(1) == b"x"
    import pickle

    assert pickle.loads(pickle.dumps(os.system)).__name__ == "system"  # the stand-in pickles as the real one


def test_tensorflow_newly_imported_is_a_problem(monkeypatch):
    for name in ("tensorflow", "keras"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    guard = Guard()
    guard.arm("a test")
    try:
        monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
        assert guard.problems() == ["imported tensorflow (TensorFlow)"]
    finally:
        guard.disarm()
