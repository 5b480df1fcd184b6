"""TensorFlow and Keras for the engine, with this process's numerics: its threads and op determinism.

The engine's modules import `tf` and `keras` from here, so TensorFlow is imported once, quietly, with
the threads already set; `configure` and `ensure` set the mode a process or cell runs in."""

from __future__ import annotations

from functools import cache

from study.runtime.numerics import (
    Numerics,
    NumericsError,
    cpu_description,
    default_threads,
    thread_counts,
)
from study.runtime.tensorflow_setup import keras as keras  # the engine takes keras and tf from here
from study.runtime.tensorflow_setup import tf

# --- numerics (study/runtime/numerics.py): threads and op determinism, set once per process ---------

_current: Numerics | None = None


def onednn_setting() -> str:
    """`on` or `off`: whether this TensorFlow build runs its oneDNN kernels (TF_ENABLE_ONEDNN_OPTS)."""
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
            f"process already runs with {have_intra or 'all'}; start a new process (or use train.numerics: fast)"
        )
    _current = Numerics(
        mode, have_intra or default_threads(), have_inter or default_threads(), onednn_setting(), cpu_description()
    )
    return _current


def ensure(mode: str) -> Numerics:
    """The numerics for a cell of `mode`: configured now if nothing was yet, else checked."""
    if _current is None or _current.mode != mode:
        return configure(mode, None if _current is None else _current.inter_op_threads)
    return _current


def current() -> Numerics | None:
    """What `configure` set in this process, or None before it ran."""
    return _current


@cache
def deterministic_ops() -> None:
    """TensorFlow's op determinism, once per process (on the CPU: no op picks a racy kernel)."""
    tf.config.experimental.enable_op_determinism()
