"""The engine's callback protocol as no-op hooks, importable without TensorFlow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelDescription:
    """What `set_model` receives in place of the Keras model when the engine trains in another process
    (study/execution/trainer.py): what the driver's callbacks need to know of the model."""

    layer_activations: dict[str, str]  # hidden activation layer name -> function name


class EngineCallback:
    """No-op hooks of the engine's callback protocol (a `keras.callbacks.Callback`'s, plus
    `on_chunk_end`), without importing TensorFlow: subclasses override what they need."""

    model = None
    stop_training = False  # set at an eval point (`on_epoch_end`): the engine ends training right there

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs=None) -> None:
        pass

    def on_epoch_end(self, epoch, logs=None) -> None:
        pass

    def on_chunk_end(self, records) -> None:
        pass

    def on_train_end(self, logs=None) -> None:
        pass
