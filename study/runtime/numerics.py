"""What decides a cell's float results besides its settings, set explicitly once per process.

TensorFlow's CPU kernels (Eigen's contractions and reductions, oneDNN's matrix multiplies) choose
how to split one op's arithmetic — and so the order in which floats are summed — from the number
of intra-op threads, the op's shape and the CPU's cache sizes. The same cell could therefore give
different last bits in the main process (every core), in a `--workers N` pool (cores / N) and in a
Ray task (`--cpus-per-cell`), and which shapes are affected changes from CPU to CPU.

Two modes, chosen by `train.numerics`:

- `exact` (the default): every op runs on one thread, so no op's arithmetic is ever split; the
  cores are used by running independent ops side by side (inter-op threads). A cell's numbers do
  not depend on the thread count, the backend or the number of workers — only on the CPU's
  instruction set and cache sizes and the package versions, which every run records.
- `fast`: every op may use all of the process's threads. On some CPUs and shapes the results then
  depend on the thread count; the run records it so a difference can be explained.

Op determinism is always on and XLA is never used; oneDNN is left at TensorFlow's own default and
recorded. This module holds the policy: TensorFlow gets the default mode's threads as soon as it is
imported, then `configure` (each backend, before any training) and `ensure` (the engine, for the cell
it is about to train) apply it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from study.spec.train import NUMERICS_MODES as MODES


class NumericsError(RuntimeError):
    """The process's TensorFlow threads were set before `configure` could set them for this mode."""


@dataclass(frozen=True)
class Numerics:
    """The numerics in effect in this process, as recorded on every cell run."""

    mode: str
    intra_op_threads: int
    inter_op_threads: int
    onednn: str
    cpu: str
    op_determinism: bool = True
    xla: bool = False

    def settings(self) -> dict[str, str]:
        """Every field as text ({"mode": "exact", "intra_op_threads": "1", …}); the store records them as
        the `study.numerics.*` tags (study/store/contract.py: numerics_tags)."""
        return {
            "mode": self.mode,
            "intra_op_threads": str(self.intra_op_threads),
            "inter_op_threads": str(self.inter_op_threads),
            "onednn": self.onednn,
            "op_determinism": str(self.op_determinism).lower(),
            "xla": str(self.xla).lower(),
            "cpu": self.cpu,
        }


def default_threads() -> int:
    """The CPUs this process may use: its affinity mask (os.sched_getaffinity on Linux, psutil's
    cpu_affinity on Windows and FreeBSD), else the machine's count (macOS has no affinity masks)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        pass
    import psutil

    try:
        return max(1, len(psutil.Process().cpu_affinity()))
    except (AttributeError, OSError, psutil.Error):  # no affinity on this system (macOS), or not readable
        return max(1, os.cpu_count() or 1)


def thread_counts(mode: str, threads: int) -> tuple[int, int]:
    """(intra-op, inter-op) threads for a mode and a thread budget."""
    if mode not in MODES:
        raise ValueError(f"unknown numerics mode {mode!r} (valid: {', '.join(MODES)})")
    threads = max(1, int(threads))
    return (1 if mode == "exact" else threads), threads


# Instruction-set extensions that change which kernels (and so which roundings) TensorFlow runs.
ISA_FLAGS = ("avx512_bf16", "avx512_vnni", "avx512f", "avx2", "fma", "avx", "sse4_2", "amx_tile", "asimd", "sve")


CPU_CACHES = Path("/sys/devices/system/cpu/cpu0/cache")  # Linux: one indexN folder per cache of the first CPU
CPU_INFO = Path("/proc/cpuinfo")  # Linux: the model name and the ISA flags of each processor


def cache_sizes(root: Path = CPU_CACHES) -> str:
    """The first CPU's data and unified cache sizes, e.g. `L1d 32K L2 512K L3 32768K` (Eigen sizes
    its matrix-product blocks from them, so they also decide the summation order); "" where unknown
    (no sysfs: macOS, Windows; an unreadable folder), and a cache whose files do not read is left out."""
    found = []
    try:
        indexes = sorted(root.glob("index*"))
    except OSError:
        return ""
    for index in indexes:
        try:
            level, kind, size = ((index / name).read_text().strip() for name in ("level", "type", "size"))
            order = int(level)
        except (OSError, ValueError):
            continue
        if kind in ("Data", "Unified"):
            found.append((order, f"L{level}{'d' if kind == 'Data' else ''} {size}"))
    return " ".join(text for _, text in sorted(found))


@cache
def cpu_description() -> str:
    """The CPU's model name, the ISA extensions that pick TensorFlow's kernels and the cache sizes
    that size their blocks, e.g. `Intel(R) Xeon(R) Processor [x86_64: avx512f avx2 fma; L1d 48K L2 2048K]`.
    The extensions come from /proc/cpuinfo and the caches from sysfs (Linux); elsewhere the description
    is what `platform` knows (`arm [arm64]`, `Intel64 Family 6 … [AMD64]`), without raising."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open(CPU_INFO, encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key in ("model name", "cpu model") and model in ("", platform.machine(), platform.processor()):
                    model = value.strip()
                elif key in ("flags", "features"):
                    flags.update(value.split())
                if key == "" and flags:
                    break  # the first processor's block is enough
    except OSError:
        pass
    isa = " ".join(f for f in ISA_FLAGS if f in flags)
    caches = cache_sizes(CPU_CACHES)
    return f"{model} [{platform.machine()}{': ' + isa if isa else ''}{'; ' + caches if caches else ''}]"
