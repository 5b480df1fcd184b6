"""Which process trains a cell: process identity and liveness, the per-cell OS file lock beside a
SQLite store, and the claim recorded in the store itself for a tracking server.

On a tracking server (`http://…`) no file is shared, so a claim is an experiment the claimer
creates, named `.study-claims/<experiment id>/<config hash>/<digest>/<generation>`, tagged with its
owner and soft-deleted at once (hidden in the UI and `study list`; a deleted experiment keeps its
name). MLflow's SQL stores hold experiment names unique (a database constraint), so of any number
of processes creating the same name exactly one succeeds and the others get RESOURCE_ALREADY_EXISTS:
the claim is atomic, with no timing window. A claim ends when its owner creates `<name>/released`;
a generation released, or owned by a process of this host that no longer exists, is taken over by
creating the next generation.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from filelock import BaseFileLock

CLAIMS_DIR = "claims"  # beside a SQLite store: one lock file per cell that some process trains or trained
CLAIM_PREFIX = ".study-claims"  # on a tracking server: the names of the claim experiments start so
CLAIM_OWNER_TAG = "study.claim_owner"  # on a claim experiment: host:pid:start of its owner, and a nonce
RELEASED = "released"  # the last part of the name of a claim's release marker


def process_tag() -> str:
    """host:pid:start of this process, so a later run can tell whether it is still alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{process_start(os.getpid())}"


def process_start(pid: int) -> str:
    """When a process started, as digits, or '' where unknown (no such process, not readable); it is
    recorded beside the pid so that another process that gets the pid later is not taken for it.

    On Linux: clock ticks since boot, the kernel's start time of the process (field 22 of
    /proc/<pid>/stat, the value tags written before psutil carry), which no change of the clock moves:
    psutil gives it as `create_time() - boot_time()` in seconds, both from the same boot time.
    Elsewhere: the creation time in milliseconds since the epoch, as the system recorded it."""
    import psutil

    try:
        created = psutil.Process(pid).create_time()
        if psutil.LINUX:
            return str(round((created - psutil.boot_time()) * os.sysconf("SC_CLK_TCK")))
        return str(round(created * 1000))
    except (psutil.Error, OSError, ValueError):
        return ""


def process_alive(tag: str) -> bool | None:
    """Whether the process named by a `process_tag` lives; None when it ran on another host."""
    host, _, rest = tag.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    return pid_alive(pid) and (not start or process_start(pid) == start)


def pid_alive(pid: int) -> bool:
    """Whether a process of this host runs with that pid: a zombie (killed, its exit status not yet
    collected by its parent, e.g. a Ray worker before the raylet reaps it) counts as ended; another
    user's process, which may not be inspected, as running."""
    import psutil

    try:
        return psutil.Process(pid).status() not in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD)
    except psutil.NoSuchProcess:  # ZombieProcess included (macOS: a zombie's details are gone)
        return False
    except psutil.AccessDenied:
        return True
    except ValueError:  # not a pid at all (negative)
        return False


def try_lock(path: Path) -> BaseFileLock | None:
    """An exclusive OS file lock on `path` (created if missing), taken without waiting: a
    `filelock.FileLock`, or None while another holder has it (another process, or another lock on the
    same file in this one). Released by `.release()`, from any thread, or by the OS when its process
    ends, however it ends (flock on Unix, LockFileEx/msvcrt on Windows: see docs/reliability.md)."""
    from filelock import FileLock, Timeout

    lock = FileLock(path, thread_local=False)  # the background writer releases what the cell's thread took
    try:
        lock.acquire(timeout=0)
    except Timeout:
        return None
    return lock


class Claim:
    """An exclusive right to train one cell: checking `taken` and then creating a run is not atomic,
    so two processes could both find a cell free and both train it; holding the claim across the
    check, the training and the run's end closes that window. Beside a SQLite store it is an OS file
    lock (`try_lock`), which the OS drops when its process ends, however it ends, so a `kill -9`
    never leaves a stale claim behind; on a tracking server, `on_release` gives it back.
    """

    def __init__(self, lock: BaseFileLock | None = None, on_release: Callable[[], None] | None = None):
        self.lock = lock
        self.on_release = on_release

    def release(self) -> None:
        if self.lock is not None:
            self.lock.release()
            self.lock = None
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
