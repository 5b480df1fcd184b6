"""The store's disk checks where POSIX's calls are missing (Windows, macOS): the reserve is written as
zeros without posix_fallocate, counted by size without st_blocks; a read-only mount is asked only where
statvfs exists, and the free space comes from shutil.disk_usage."""

from __future__ import annotations

import os

from study.store import connect, reserve
from study.store.reserve import RESERVE_BYTES, allocate, allocated


def test_without_posix_fallocate_the_reserve_is_written_as_zeros(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "posix_fallocate", raising=False)
    path = tmp_path / ".space-reserve"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        allocate(fd, RESERVE_BYTES)
    finally:
        os.close(fd)
    assert path.stat().st_size == RESERVE_BYTES
    assert allocated(path) >= RESERVE_BYTES
    assert path.read_bytes() == bytes(RESERVE_BYTES)


def test_keep_reserve_works_without_posix_fallocate(tmp_path, monkeypatch):
    monkeypatch.delattr(os, "posix_fallocate", raising=False)
    (tmp_path / "mlflow.db").write_bytes(b"")
    reserve.keep_reserve(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert allocated(tmp_path / reserve.RESERVE_NAME) >= RESERVE_BYTES


def test_without_st_blocks_a_file_counts_its_size(tmp_path, monkeypatch):
    path = tmp_path / "f"
    path.write_bytes(b"x" * 1000)

    class NoBlocks:
        st_size = 1000

    monkeypatch.setattr(type(path), "stat", lambda self, **kw: NoBlocks())
    assert allocated(path) == 1000


def test_without_statvfs_no_mount_counts_as_read_only(tmp_path, monkeypatch):
    assert connect.read_only_mount(tmp_path) is False  # this test's folder is writable
    monkeypatch.delattr(os, "statvfs", raising=False)
    assert connect.read_only_mount(tmp_path) is False
