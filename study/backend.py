"""TensorFlow and Keras, imported once with the process-wide settings this package needs.

Modules that need them import `tf` and `keras` from here: the Keras backend is pinned to
TensorFlow, and TensorFlow's C++ start-up chatter (oneDNN notices, CUDA probing on machines
without a GPU), which the absl logger writes before any log level can apply, is kept out of the
terminal — it is replayed if the import itself fails.
"""

from __future__ import annotations

import os
import sys
import tempfile

from study import numerics

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def _import_quietly():
    """Import tensorflow and keras with file descriptor 2 sent to a temporary file."""
    sys.stderr.flush()
    saved = os.dup(2)
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
    tf.get_logger().setLevel("ERROR")  # retracing notices: every cell is a new model, by design
    return tf, keras


tf, keras = _import_quietly()
numerics.preset(tf)
