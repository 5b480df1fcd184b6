"""A little disk space kept beside a SQLite store, given back when the disk fills under a run, so
the runs the fault interrupted can still be ended FAILED with the reason (SQLite needs room for its
journal and a page or two to write that)."""

from __future__ import annotations

import os
from pathlib import Path

from study.store.connect import store_dir

RESERVE_NAME = ".space-reserve"  # in the store's folder (mlruns/); empty of meaning, only its blocks count
RESERVE_BYTES = 1 << 20  # a journal plus a few pages, many times over


def reserve_path(uri: str) -> Path | None:
    """Where a SQLite store's reserve lives; None for other stores (a server keeps its own disk)."""
    folder = store_dir(uri)
    return folder / RESERVE_NAME if folder is not None else None


def keep_reserve(uri: str) -> None:
    """Make sure the reserve exists, its blocks allocated; where they cannot be (a full disk, a
    file-size limit, a file system without fallocate) there is simply no reserve."""
    path = reserve_path(uri)
    if path is None or (path.is_file() and allocated(path) >= RESERVE_BYTES):
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
        try:
            allocate(fd, RESERVE_BYTES)
        finally:
            os.close(fd)
    except OSError:
        path.unlink(missing_ok=True)


def allocated(path: Path) -> int:
    """The bytes of disk a file holds (its blocks where the system counts them, else its size: Windows)."""
    info = path.stat()
    blocks = getattr(info, "st_blocks", None)
    return info.st_size if blocks is None else blocks * 512


def allocate(fd: int, size: int) -> None:
    """Give the file `size` bytes of real blocks: posix_fallocate (Linux, FreeBSD), else zeros written
    (macOS, Windows: written zeros take blocks where a size alone would leave a sparse file)."""
    fallocate = getattr(os, "posix_fallocate", None)
    if fallocate is not None:
        fallocate(fd, 0, size)
        return
    chunk = bytes(1 << 16)
    for _ in range(size // len(chunk)):
        os.write(fd, chunk)
    os.fsync(fd)


def free_reserve(uri: str) -> bool:
    """Give the reserve's space back to the disk (after a disk-full fault); whether there was one."""
    path = reserve_path(uri)
    if path is None or not path.is_file():
        return False
    path.unlink(missing_ok=True)
    return True
