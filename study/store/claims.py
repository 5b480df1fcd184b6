"""Which process trains a cell: process identity and liveness, the per-cell OS file lock beside a
SQLite store, and the claim recorded in the store itself for a tracking server.

On a tracking server (`http://…`) no file is shared, so a claim is an experiment the claimer
creates, named `.study-claims/<experiment id>/<config hash>/<digest>/<generation>`, tagged with its
owner and soft-deleted at once (hidden in the UI and `study list`; a deleted experiment keeps its
name). MLflow's SQL stores hold experiment names unique (a database constraint), so of any number
of processes creating the same name exactly one succeeds and the others get RESOURCE_ALREADY_EXISTS:
the claim is atomic, with no timing window. A claim ends when its owner creates `<name>/released`;
a generation released, or owned by a process of this host that no longer exists, is taken over by
creating the next generation (docs/reliability.md says what is and is not guaranteed).
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

CLAIMS_DIR = "claims"  # beside a SQLite store: one lock file per cell that some process trains or trained
CLAIM_PREFIX = ".study-claims"  # on a tracking server: the names of the claim experiments start so
CLAIM_OWNER_TAG = "study.claim_owner"  # on a claim experiment: host:pid:start of its owner, and a nonce
RELEASED = "released"  # the last part of the name of a claim's release marker


def process_tag() -> str:
    """host:pid:start-ticks of this process, so a later run can tell whether it is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid())}"


def proc_stat(pid: int, field: int) -> str:
    """One field of /proc/<pid>/stat after the command name (0: the state, 19: the start time), or ''
    where unknown (no such process, not Linux)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[field]
    except (OSError, IndexError):
        return ""


def process_start(pid: int) -> str:
    """The kernel's start time of a process (Linux), or '' where unknown; guards against pid reuse."""
    return proc_stat(pid, 19)


def process_ended(pid: int) -> bool:
    """Whether a process that still has its pid has ended: a zombie (killed, its exit status not yet
    collected by its parent, e.g. a Ray worker before the raylet reaps it) counts as ended (Linux)."""
    return proc_stat(pid, 0) in ("Z", "X")


def process_alive(tag: str) -> bool | None:
    """Whether the process named by a `process_tag` lives; None when it ran on another host."""
    host, _, rest = tag.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    return pid_alive(pid) and (not start or process_start(pid) == start)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host runs with that pid (a zombie counts as ended; another user's runs)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not process_ended(pid)


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


def server_claim(client: Any, exp_id: str, config_hash: str, digest: str, owner: str) -> Claim | None:
    """Claim a cell in the store itself (see the module docstring); None while another live process holds it.

    `owner` is this attempt's identity (`claim_owner()`): a create the HTTP client retried after its
    first try reached the server finds its own name there, and owns it."""
    from mlflow.exceptions import MlflowException

    base = f"{CLAIM_PREFIX}/{exp_id}/{config_hash}/{digest}"
    generation = 0
    while True:
        name = f"{base}/{generation}"
        try:
            claim_id = client.create_experiment(name, tags={CLAIM_OWNER_TAG: owner})
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            held = client.get_experiment_by_name(name)
            if held is None:  # removed for good (`mlflow gc`) since: try the name again
                continue
            holder = held.tags.get(CLAIM_OWNER_TAG, "")
            if holder == owner:  # our own create, which the HTTP client sent again
                claim_id = held.experiment_id
            elif released(client, name) or process_alive(holder.split(" ", 1)[0]) is False:
                generation += 1
                continue
            else:
                return None
        hide(client, claim_id)
        return Claim(None, partial(release_claim, client, name))


def claim_owner() -> str:
    """A claim's owner: this process (host:pid:start, for the liveness check) and a random nonce."""
    return f"{process_tag()} {uuid.uuid4().hex}"


def released(client: Any, name: str) -> bool:
    """Whether the claim `name` was given back by its owner."""
    return client.get_experiment_by_name(f"{name}/{RELEASED}") is not None


def hide(client: Any, experiment_id: str) -> None:
    """Soft-delete a claim experiment: out of the UI's and `study list`'s view, its name still taken."""
    from mlflow.exceptions import MlflowException

    try:
        client.delete_experiment(experiment_id)
    except MlflowException:  # deleted already (a retried call): hidden is all that is wanted
        pass


def release_claim(client: Any, name: str) -> None:
    """Give a claim back: its `released` marker, created (and hidden) once; a second release is a no-op."""
    from mlflow.exceptions import MlflowException

    try:
        hide(client, client.create_experiment(f"{name}/{RELEASED}"))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
