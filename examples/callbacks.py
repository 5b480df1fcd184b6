"""A Keras callback for `train.callbacks` (docs/own_models.md): it receives the engine's logs at every eval
point (`step`, `train_acc`, `test_acc`, `test_loss`, …) and may end the cell by setting `stop_training`."""

from __future__ import annotations

import keras


class StopAtAccuracy(keras.callbacks.Callback):
    """End a cell at the first eval point whose test accuracy reaches 0.9: its summary is that point's."""

    target = 0.9

    def on_epoch_end(self, epoch, logs=None):
        if (logs or {}).get("test_acc", 0.0) >= self.target:
            self.model.stop_training = True
