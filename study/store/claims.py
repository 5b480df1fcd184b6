"""Which process trains a cell: process identity and liveness, the per-cell OS file lock beside a
SQLite store, and the claim recorded in the store itself for a tracking server.

On a tracking server (`http://…`) no file is shared, so a claim is an experiment tag
`study.claim.<hash>.<digest>` holding its owner: a process reads it (free, or owned by a dead
process on this host), writes its own value, waits CLAIM_SETTLE_S and reads it back; it holds the
claim only if its value is still there. Of two processes that both found it free, the later write
wins and the earlier one sees it and backs off. This excludes a second trainer as long as a
process's read and write of the tag are less than CLAIM_SETTLE_S apart (docs/reliability.md says
what is and is not guaranteed); the owner deletes the tag when the cell's run has ended.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLAIMS_DIR = "claims"  # beside a SQLite store: one lock file per cell that some process trains or trained
CLAIM_TAG = "study.claim"  # on a tracking server: experiment tag study.claim.<hash>.<digest> = owner
CLAIM_SETTLE_S = 1.0  # between writing a server claim and reading it back


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

    def __init__(self, fd: int | None, on_release: Callable[[], None] | None = None):
        self.fd = fd
        self.on_release = on_release

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor drops the flock
            self.fd = None
        if self.on_release is not None:
            self.on_release()
            self.on_release = None


def server_claim(
    client: Any, exp_id: str, config_hash: str, digest: str, settle: float = CLAIM_SETTLE_S
) -> Claim | None:
    """Claim a cell in the store itself (see the module docstring); None while another live process holds it."""
    key = f"{CLAIM_TAG}.{config_hash}.{digest}"

    def holder() -> str | None:
        return client.get_experiment(exp_id).tags.get(key)

    held = holder()
    if held and process_alive(held.split(" ", 1)[0]) is not False:
        return None
    mine = f"{process_tag()} {uuid.uuid4().hex}"
    client.set_experiment_tag(exp_id, key, mine)
    time.sleep(settle)
    if holder() != mine:
        return None

    def release() -> None:
        if holder() == mine:
            client.delete_experiment_tag(exp_id, key)

    return Claim(None, release)
