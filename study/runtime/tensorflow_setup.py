"""TensorFlow and Keras, imported once with the process-wide settings this package needs.

Below both the data sources that decode with TensorFlow and the engine (which adds the per-mode
numerics): the Keras backend is pinned to
TensorFlow, TensorFlow's C++ start-up chatter (oneDNN notices, CUDA probing on machines without a
GPU), which the absl logger writes before any log level can apply, is kept out of the terminal —
it is replayed if the import itself fails — and the default numerics' threads are set before any
op can run (exact numerics need one intra-op thread from the start).
"""

from __future__ import annotations

import io
import os
import sys
import tempfile

from study.runtime.numerics import default_threads, thread_counts
from study.spec.train import DEFAULT_NUMERICS

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _import_quietly():
    """Import tensorflow and keras with file descriptor 2 sent to a temporary file.

    The import may run on a background thread (a data source that decodes with TensorFlow, an engine
    built ahead by study/engine/prefetch.py) while the main thread prints, so
    for its duration `sys.stderr` writes to a duplicate of the real descriptor 2 instead: what Python
    code says is not swallowed with TensorFlow's chatter. That duplicate stays open for the life of
    the process, since a stream or log handler may have taken `sys.stderr` meanwhile.
    """
    sys.stderr.flush()
    saved = os.dup(2)
    python_stderr = sys.stderr
    if writes_to_fd2(python_stderr):  # else (pytest's capture, a notebook's stream) fd 2 is not its way out
        sys.stderr = io.TextIOWrapper(
            io.FileIO(os.dup(2), "w"), encoding=python_stderr.encoding, errors="backslashreplace", line_buffering=True
        )
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            import keras
            import tensorflow as tf
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            sys.stderr.write(sink.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sys.stderr.flush()
            sys.stderr = python_stderr
    tf.get_logger().setLevel("ERROR")  # retracing notices: every cell is a new model, by design
    return tf, keras


def writes_to_fd2(stream) -> bool:
    """Whether a text stream writes to file descriptor 2."""
    try:
        return stream.fileno() == 2
    except (AttributeError, OSError, ValueError):
        return False


tf, keras = _import_quietly()


def preset() -> None:
    """Give TensorFlow the default mode's threads as soon as it is imported, before anything can run
    an op (called below, on import), so a process that never calls `configure` is exact too."""
    intra, inter = thread_counts(DEFAULT_NUMERICS, default_threads())
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra)
        tf.config.threading.set_inter_op_parallelism_threads(inter)
    except RuntimeError:  # something ran TensorFlow first: engine.backend.configure then says what to do
        pass


preset()
