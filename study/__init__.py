"""study: declarative Keras experiment grids, tracked in MLflow, compared in a report."""

__version__ = "0.1.0"
