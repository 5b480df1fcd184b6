"""This machine's float32 matrix-multiply rate, the best measured, kept in the user's cache folder: what the
dry run's time estimate divides a study's FLOPs by."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

from study.runtime.cache import cache_dir

SHAPE = (4096, 784, 64)  # (rows, inputs, units): a dense layer's forward pass over a batch of MNIST images
REPEATS = 40  # the best of these calls (~0.2 s in all): the rate the machine reaches, not a moment of load
CACHE_FILE = "machine_rate.json"


def machine_key() -> str:
    """What the rate belongs to: the host, its CPU and core count, and NumPy's version (its BLAS)."""
    import numpy as np

    return f"{platform.node()}|{platform.machine()}|{cpu_model()}|{os.cpu_count()}|numpy {np.__version__}"


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def measure_rate() -> float:
    """FLOP/s of NumPy's float32 product of SHAPE, the best of REPEATS calls after one warm-up."""
    import numpy as np

    rows, inputs, units = SHAPE
    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, inputs), dtype=np.float32)
    b = rng.standard_normal((inputs, units), dtype=np.float32)
    a @ b
    best = float("inf")
    for _ in range(REPEATS):
        t0 = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - t0)
    return 2.0 * rows * inputs * units / max(best, 1e-9)


_REMEASURED: set[Path] = set()  # at most one new measurement a process: the dry run's, not each caller's


def machine_rate(folder: Path | None = None, remeasure: bool = False) -> float:
    """The rate this machine reaches: the cached best, measured (~0.1 s) and written on first use. With
    `remeasure` (the dry run) it is measured again, once a process, and the cache keeps the higher, so a first
    measurement taken while other work loaded the cores (a third of the rate, seen on 2 cores) does not
    stay the machine's rate. An unwritable cache only means measuring again next time."""
    path = (folder or cache_dir()) / CACHE_FILE
    known = _cached_rate(path)
    if known is not None and (not remeasure or path in _REMEASURED):
        return known
    _REMEASURED.add(path)
    rate = measure_rate()
    if known is not None and known >= rate:
        return known
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = {"machine": machine_key(), "flops_per_s": rate, "measured": time.strftime("%Y-%m-%d %H:%M:%S")}
        path.write_text(json.dumps(doc, indent=1), encoding="utf-8")
    except OSError:
        pass
    return rate


def _cached_rate(path: Path) -> float | None:
    """The rate cached for this machine, or None (none, another machine's, an unreadable file)."""
    try:
        known = json.loads(path.read_text(encoding="utf-8"))
        if known.get("machine") == machine_key() and float(known["flops_per_s"]) > 0:
            return float(known["flops_per_s"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass
    return None
