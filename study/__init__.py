"""study: declarative Keras experiment grids, tracked in MLflow, compared in a report."""

__version__ = "0.1.0"

import os

# TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) hides our one-line errors and progress.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
