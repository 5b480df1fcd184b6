"""What study/runtime/numerics.py reads of the CPU degrades without raising where Linux's files are not
there (macOS, Windows) or not readable, and gives the same text as before where they are."""

from __future__ import annotations

import os

import pytest

from study.runtime import numerics
from study.runtime.numerics import cache_sizes, cpu_description, default_threads


def write_cache(root, index: str, level: str, kind: str, size: str) -> None:
    folder = root / index
    folder.mkdir(parents=True)
    for name, text in (("level", level), ("type", kind), ("size", size)):
        (folder / name).write_text(text + "\n")


def test_without_sysfs_the_cache_sizes_are_unknown(tmp_path):
    assert cache_sizes(tmp_path / "absent") == ""
    assert cache_sizes(tmp_path) == ""  # a folder without index* entries


def test_a_cache_whose_files_do_not_read_is_left_out(tmp_path):
    write_cache(tmp_path, "index0", "1", "Data", "32K")
    write_cache(tmp_path, "index1", "two", "Unified", "512K")  # not a level
    (tmp_path / "index2").mkdir()  # no files at all
    write_cache(tmp_path, "index3", "3", "Unified", "32768K")
    assert cache_sizes(tmp_path) == "L1d 32K L3 32768K"


def test_without_proc_and_sysfs_the_cpu_is_what_platform_knows(tmp_path, monkeypatch):
    import platform

    monkeypatch.setattr(numerics, "CPU_INFO", tmp_path / "no-cpuinfo")
    monkeypatch.setattr(numerics, "CPU_CACHES", tmp_path / "no-caches")
    text = cpu_description.__wrapped__()
    assert text == f"{platform.processor() or platform.machine()} [{platform.machine()}]"


def test_the_cpu_description_on_this_machine_is_unchanged_by_the_fallbacks():
    """Where the files exist, the text (a run tag, part of what a run records) is as it always was."""
    text = cpu_description.__wrapped__()
    caches = cache_sizes()
    assert text == cpu_description()
    assert (("; " + caches) in text) == bool(caches)


def test_without_sched_getaffinity_the_threads_come_from_psutil_or_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    assert 1 <= default_threads() <= (os.cpu_count() or 1)


def test_without_any_affinity_the_threads_are_the_cpu_count(monkeypatch):
    import psutil

    class NoAffinity:
        def cpu_affinity(self):
            raise AttributeError("cpu_affinity")  # macOS: psutil has none

    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(psutil, "Process", NoAffinity)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert default_threads() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert default_threads() == 1


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux's affinity call")
def test_with_sched_getaffinity_the_threads_are_the_affinity_mask():
    assert default_threads() == len(os.sched_getaffinity(0))
