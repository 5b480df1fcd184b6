"""The numerics settings (study/runtime/numerics.py): thread counts per mode, the tags that name them,
the CPU's cache sizes. Histories that do not depend on them are in tests/integration/runtime/test_numerics.py."""

from __future__ import annotations

import pytest

from study.runtime.numerics import MODES, Numerics, cache_sizes, cpu_description, thread_counts
from study.store.contract import numerics_tags


def test_thread_counts_per_mode():
    assert thread_counts("exact", 8) == (1, 8)
    assert thread_counts("fast", 8) == (8, 8)
    assert thread_counts("exact", 0) == (1, 1)
    with pytest.raises(ValueError, match="valid: exact, fast"):
        thread_counts("quick", 2)
    assert MODES == ("exact", "fast")


def test_numerics_tags_name_every_setting():
    tags = numerics_tags(Numerics("exact", 1, 2, "on", "cpu [x86_64: avx2]").settings())
    assert tags == {
        "study.numerics": "exact",
        "study.numerics.intra_op_threads": "1",
        "study.numerics.inter_op_threads": "2",
        "study.numerics.onednn": "on",
        "study.numerics.op_determinism": "true",
        "study.numerics.xla": "false",
        "study.numerics.cpu": "cpu [x86_64: avx2]",
    }


def fake_cache(root, index: int, level: int, kind: str, size: str) -> None:
    folder = root / f"index{index}"
    folder.mkdir(parents=True)
    for name, value in (("level", level), ("type", kind), ("size", size)):
        (folder / name).write_text(f"{value}\n")


def test_cache_sizes_name_the_data_and_unified_caches_in_level_order(tmp_path):
    fake_cache(tmp_path, 3, 3, "Unified", "32768K")
    fake_cache(tmp_path, 0, 1, "Data", "32K")
    fake_cache(tmp_path, 1, 1, "Instruction", "32K")  # no data passes through it: not part of the blocking
    fake_cache(tmp_path, 2, 2, "Unified", "512K")
    (tmp_path / "index4").mkdir()  # unreadable entries are skipped, not fatal
    assert cache_sizes(tmp_path) == "L1d 32K L2 512K L3 32768K"
    assert cache_sizes(tmp_path / "absent") == ""


def test_the_cpu_description_carries_this_machines_caches():
    caches = cache_sizes()
    assert (("; " + caches) in cpu_description()) == bool(caches)
