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
  instruction set and the package versions, which every run records.
- `fast`: every op may use all of the process's threads. On some CPUs and shapes the results then
  depend on the thread count; the run records it so a difference can be explained.

Op determinism is always on and XLA is never used; oneDNN is left at TensorFlow's own default and
recorded. Threads can be set only before TensorFlow runs its first op, so a process settles them
once: `configure` is called by each backend before any training, and the engine calls `ensure`
for the cell it is about to train.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache

MODES = ("exact", "fast")
DEFAULT_MODE = "exact"  # what a process runs with until `configure` says otherwise (TrainConfig's default too)


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

    def tags(self) -> dict[str, str]:
        """`study.numerics.*` tags: what a reproduction compares to explain a difference."""
        return {
            "study.numerics": self.mode,
            "study.numerics.intra_op_threads": str(self.intra_op_threads),
            "study.numerics.inter_op_threads": str(self.inter_op_threads),
            "study.numerics.onednn": self.onednn,
            "study.numerics.op_determinism": str(self.op_determinism).lower(),
            "study.numerics.xla": str(self.xla).lower(),
            "study.numerics.cpu": self.cpu,
        }


_current: Numerics | None = None


def preset(tf) -> None:
    """Give TensorFlow the default mode's threads as soon as it is imported, before anything can run
    an op (study/backend.py calls it), so a process that never calls `configure` is exact too."""
    intra, inter = thread_counts(DEFAULT_MODE, default_threads())
    tf.config.threading.set_intra_op_parallelism_threads(intra)
    tf.config.threading.set_inter_op_parallelism_threads(inter)


def default_threads() -> int:
    """The CPUs this process may use (its affinity mask, else the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_counts(mode: str, threads: int) -> tuple[int, int]:
    """(intra-op, inter-op) threads for a mode and a thread budget."""
    if mode not in MODES:
        raise ValueError(f"unknown numerics mode {mode!r} (valid: {', '.join(MODES)})")
    threads = max(1, int(threads))
    return (1 if mode == "exact" else threads), threads


def onednn_setting() -> str:
    """`on` or `off`: whether this TensorFlow build runs its oneDNN kernels (TF_ENABLE_ONEDNN_OPTS)."""
    import study.backend  # noqa: F401  (TensorFlow imported with the package's settings)
    from tensorflow.python.util import _pywrap_util_port

    return "on" if _pywrap_util_port.IsMklEnabled() else "off"


def configure(mode: str = "exact", threads: int | None = None) -> Numerics:
    """Set this process's threads for `mode` (before TensorFlow's first op) and turn on op determinism.

    Calling it again with the same mode keeps what is set. Raises NumericsError when TensorFlow
    already runs with thread counts this mode cannot accept (exact needs one intra-op thread).
    """
    global _current
    intra, inter = thread_counts(mode, threads if threads is not None else default_threads())
    if _current is not None and _current.mode == mode and (threads is None or _current.inter_op_threads == inter):
        return _current
    from study.backend import tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # TensorFlow has started: its pools are fixed for the life of the process
        pass
    deterministic_ops()
    have_intra = tf.config.threading.get_intra_op_parallelism_threads()
    have_inter = tf.config.threading.get_inter_op_parallelism_threads()
    if mode == "exact" and have_intra != 1:
        raise NumericsError(
            f"train.numerics: exact needs TensorFlow's intra-op threads set to 1 before its first op, and this "
            f"process already runs with {have_intra or 'all'}; start a new process (or use train.numerics: fast)")
    _current = Numerics(mode, have_intra or default_threads(), have_inter or default_threads(), onednn_setting(),
                        cpu_description())
    return _current


def ensure(mode: str) -> Numerics:
    """The numerics for a cell of `mode`: configured now if nothing was yet, else checked."""
    if _current is None or _current.mode != mode:
        return configure(mode, None if _current is None else _current.inter_op_threads)
    return _current


def current() -> Numerics | None:
    """What `configure` set in this process, or None before it ran."""
    return _current


# Instruction-set extensions that change which kernels (and so which roundings) TensorFlow runs.
ISA_FLAGS = ("avx512_bf16", "avx512_vnni", "avx512f", "avx2", "fma", "avx", "sse4_2", "amx_tile", "asimd", "sve")


@cache
def cpu_description() -> str:
    """The CPU's model name and the ISA extensions that pick TensorFlow's kernels, e.g.
    `Intel(R) Xeon(R) Processor [x86_64: avx512f avx2 fma]`."""
    import platform

    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
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
    return f"{model} [{platform.machine()}{': ' + isa if isa else ''}]"


@cache
def deterministic_ops() -> None:
    """TensorFlow's op determinism, once per process (on the CPU: no op picks a racy kernel)."""
    from study.backend import tf

    tf.config.experimental.enable_op_determinism()
