"""Which process trains a cell: process identity and liveness, and the per-cell OS file lock."""

from __future__ import annotations

import os
import socket
from pathlib import Path

CLAIMS_DIR = "claims"  # beside a SQLite store: one lock file per cell that some process trains or trained


def process_tag() -> str:
    """host:pid:start-ticks of this process, so a later run can tell whether it is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid())}"


def process_start(pid: int) -> str:
    """The kernel's start time of a process (Linux), or '' where unknown; guards against pid reuse."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_alive(tag: str) -> bool | None:
    """Whether the process named by a `process_tag` lives; None when it ran on another host."""
    host, _, rest = tag.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not start or process_start(pid) == start


class Claim:
    """An exclusive OS file lock on one cell: checking `taken` and then creating a run is not atomic,
    so two processes could both find a cell free and both train it; holding this lock across the
    check, the training and the run's end closes that window. The kernel drops the lock when its
    process ends, however it ends, so a `kill -9` never leaves a stale claim behind.
    """

    def __init__(self, fd: int | None):
        self.fd = fd

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
