"""The unit tier's rules, enforced while a test under tests/unit runs (armed by tests/conftest.py).

A unit test imports no TensorFlow, starts no process and opens no network socket. While one runs
(its fixtures' setup and teardown included), starting a process (`subprocess`, `multiprocessing`,
`os.fork`, `os.posix_spawn`, `os.system`) or connecting, binding or sending on an IPv4/IPv6 socket
raises `TierViolation` at the call, naming the rule and what to do; the call is also recorded, so a
test whose code swallowed the error still fails at its teardown. TensorFlow newly in `sys.modules`
after the test fails it too. That last check sees only a first import: it bites wherever TensorFlow
was not loaded before the test, as in `pytest -m unit` or `pytest tests/unit`, which collect and
import no other tier's modules (a module of tests/unit that imports TensorFlow is caught when it is
collected, before the other tiers are).

Processes and sockets are refused on the test's own threads and the threads it starts; threads that
were running before it (an earlier test's) are left alone.
"""

from __future__ import annotations

import _posixsubprocess
import multiprocessing.process
import os

# Libraries that start a process or bind a socket once, the first time they are used, and cache what they
# learn: do it here, before any test is guarded, so that whichever unit test comes first is not blamed.
# urllib3 (MLflow imports it through requests) binds ::1 to learn whether IPv6 works; MLflow's telemetry
# calls platform.platform() at import, which runs `uname -p` once.
import platform
import socket
import subprocess
import sys
import threading
import traceback

import urllib3.util.connection  # noqa: F401

platform.platform()

HEAVY = ("tensorflow", "keras")  # Keras 3 runs on TensorFlow here: importing it imports TensorFlow
INET = (socket.AF_INET, socket.AF_INET6)
ADVICE = "a unit test imports no TensorFlow, starts no process and opens no network connection: move it to tests/integration or tests/system, or fake the call"


class TierViolation(BaseException):
    """A unit test broke a rule of its tier. A BaseException, so `except Exception` in the code under
    test does not hide it."""


def heavy_modules() -> set[str]:
    return {name for name in HEAVY if name in sys.modules}


class Guard:
    """Refuses processes and network sockets while armed; remembers what was refused."""

    def __init__(self) -> None:
        self.armed = False
        self.test = ""
        self.violations: list[str] = []
        self._before: set[int] = set()
        self._heavy: set[str] = set()
        self._saved: list[tuple[object, str, object]] = []

    # --- arming ----------------------------------------------------------------------------------

    def arm(self, test: str) -> None:
        self.armed, self.test, self.violations = True, test, []
        self._before = {t.ident for t in threading.enumerate() if t is not threading.current_thread()}
        self._heavy = heavy_modules()
        processes = {
            (subprocess.Popen, "__init__"): "starts a subprocess (subprocess.Popen)",
            (multiprocessing.process.BaseProcess, "start"): "starts a process (multiprocessing)",
            (_posixsubprocess, "fork_exec"): "starts a process (fork_exec)",
            (os, "fork"): "forks (os.fork)",
            (os, "forkpty"): "forks (os.forkpty)",
            (os, "posix_spawn"): "starts a process (os.posix_spawn)",
            (os, "posix_spawnp"): "starts a process (os.posix_spawnp)",
            (os, "system"): "starts a shell (os.system)",
        }
        for (owner, name), what in processes.items():
            if hasattr(owner, name):
                self._patch(owner, name, Refused(self, what, getattr(owner, name)))
        for name in ("connect", "connect_ex", "bind", "sendto"):
            self._patch(socket.socket, name, _socket_method(self, name, getattr(socket.socket, name)))

    def disarm(self) -> None:
        for owner, name, original in reversed(self._saved):
            setattr(owner, name, original)
        self._saved.clear()
        self.armed = False

    def _patch(self, owner, name: str, replacement) -> None:
        self._saved.append((owner, name, getattr(owner, name)))
        setattr(owner, name, replacement)

    # --- checking --------------------------------------------------------------------------------

    def applies_here(self) -> bool:
        """Whether the calling thread is the test's: not one that was running before the test began."""
        return self.armed and threading.get_ident() not in self._before

    def refuse(self, what: str) -> TierViolation:
        where = "".join(traceback.format_stack(limit=8)[:-2])
        self.violations.append(f"{what}\n{where}")
        return TierViolation(f"unit test {self.test} {what}: {ADVICE}")

    def problems(self) -> list[str]:
        """What the test did against the rules: recorded refusals, and TensorFlow newly imported."""
        out = list(self.violations)
        new = heavy_modules() - self._heavy
        if new:
            out.append(f"imported {', '.join(sorted(new))} (TensorFlow)")
        return out


class Refused:
    """Stands in for a process-starting callable. An instance, not a closure, so that pickling a
    reference to it (a test pickling `os.system` on purpose) still works."""

    def __init__(self, guard: Guard, what: str, original) -> None:
        self.guard, self.what, self.original = guard, what, original

    def __call__(self, *args, **kwargs):
        if self.guard.applies_here():
            raise self.guard.refuse(self.what)
        return self.original(*args, **kwargs)

    def __get__(self, obj, objtype=None):  # bound like the method it replaces
        if obj is None:
            return self
        return lambda *args, **kwargs: self(obj, *args, **kwargs)

    def __reduce__(self):
        return (_original, (self.original.__module__, self.original.__name__))


def _original(module: str, name: str):
    """The callable a `Refused` stands in for (what unpickling one gives back)."""
    return getattr(sys.modules[module], name)


def _socket_method(guard: Guard, name: str, original):
    def method(sock, *args, **kwargs):
        if sock.family in INET and guard.applies_here():
            raise guard.refuse(f"opens a network connection (socket.{name}{args!r})")
        return original(sock, *args, **kwargs)

    method.__name__ = name
    return method


GUARD = Guard()
