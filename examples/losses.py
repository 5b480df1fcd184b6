"""A loss and a metric of your own for `model.loss` and `train.metrics` (docs/own_models.md).

Each is `function(y_true, y_pred)` as Keras's are: for classification `y_true` holds the batch's class
labels (int32, shape (rows,)) and `y_pred` the model's class probabilities (rows, classes); it returns one
value per example, shape (rows,), which the study averages (the loss over a batch, a metric over a split).
"""

from __future__ import annotations

import keras

FOCUS = 2.0  # the focal loss's gamma: 0 is plain cross-entropy
EPSILON = 1e-7  # the smallest probability taken the log of


def focal_loss(y_true, y_pred):
    """Cross-entropy that down-weights the examples already classified well: -(1 - p)^gamma log p, with p the
    probability of the true class (Lin et al. 2017, gamma 2). Set `model.task: classification` with it."""
    p = keras.ops.take_along_axis(y_pred, keras.ops.expand_dims(y_true, -1), axis=-1)[:, 0]
    p = keras.ops.clip(p, EPSILON, 1.0)
    return -keras.ops.power(1.0 - p, FOCUS) * keras.ops.log(p)


def top2_accuracy(y_true, y_pred):
    """1 where the true class is among the two most probable, else 0: recorded as train_top2_accuracy,
    test_top2_accuracy (and val_top2_accuracy with a validation set)."""
    return keras.metrics.sparse_top_k_categorical_accuracy(y_true, y_pred, k=2)
