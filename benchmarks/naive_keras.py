"""Keras baseline: "the obvious Keras code" a user would write for the course's protocol.

Sequential 784-40-20-10, SGD(0.1), batches of 100, 200 epochs x 10 steps = 2,000 iterations,
`validation_data` = the full test set (evaluated every 10 iterations), and a callback that logs
each epoch's metrics to MLflow with one `log_metrics` call.

Run one cell:  STUDY_DATA_DIR=... python -m benchmarks.naive_keras --activation sigmoid
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.numpy_course import BATCH_SIZE, CellResult, load_mnist

EPOCHS = 200
STEPS_PER_EPOCH = 10
LEARNING_RATE = 0.1


def make_callback_class():
    """The per-epoch MLflow callback (built lazily so importing this module skips TensorFlow)."""
    import keras
    import mlflow

    class MLflowPerEpochCallback(keras.callbacks.Callback):
        """Logs the epoch's logs dict to the active MLflow run, one call per epoch."""

        def on_epoch_end(self, epoch, logs=None):
            mlflow.log_metrics(logs or {}, step=epoch)

    return MLflowPerEpochCallback


def build_model(activation: str):
    """Sequential([Input(784), Dense(40), Dense(20), Dense(10, softmax)]) compiled with SGD(0.1)."""
    import keras

    model = keras.Sequential(
        [
            keras.Input(shape=(784,)),
            keras.layers.Dense(40, activation=activation),
            keras.layers.Dense(20, activation=activation),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=LEARNING_RATE),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def run_cell(activation: str = "sigmoid", seed: int = 0, data=None) -> CellResult:
    """Train one cell with model.fit; seconds cover building, compiling and fitting the model.

    TensorFlow import, the data load and creating the MLflow SQLite store are outside the timer.
    """
    import keras
    import mlflow

    x_train, y_train, x_test, y_test = data if data is not None else load_mnist()
    callback_class = make_callback_class()
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.set_tracking_uri(f"sqlite:///{Path(tmp) / 'mlflow.db'}")
        with mlflow.start_run():
            start = time.perf_counter()
            model = build_model(activation)
            # The NumPy arrays go straight in, as a user would write it. On Keras 3.15 this
            # works with steps_per_epoch: the epoch iterator carries over between epochs and
            # restarts (reshuffled) after 600 batches, so no "ran out of data" stop. Batches are
            # drawn without replacement within each pass, unlike the course; cost per step is
            # the same. (Older Keras warned here; the fix was a shuffle().repeat().batch()
            # tf.data pipeline.)
            history = model.fit(
                x_train,
                y_train,
                batch_size=BATCH_SIZE,
                epochs=EPOCHS,
                steps_per_epoch=STEPS_PER_EPOCH,
                validation_data=(x_test, y_test),
                verbose=0,
                callbacks=[callback_class()],
            )
            seconds = time.perf_counter() - start
    val_acc = [float(a) for a in history.history["val_accuracy"]]
    return CellResult(
        seconds=seconds,
        final_test_accuracy=val_acc[-1],
        test_accuracy=val_acc,
        test_loss=[float(v) for v in history.history["val_loss"]],
        # Keras's train "accuracy" is the running mean over the epoch's 10 batches.
        batch_accuracy=[float(a) for a in history.history["accuracy"]],
        steps=[STEPS_PER_EPOCH * (e + 1) for e in range(EPOCHS)],
    )


def main(argv=None):
    """CLI: run one cell and print its seconds and final test accuracy."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--activation", choices=["sigmoid", "relu"], default="sigmoid")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    r = run_cell(args.activation, args.seed)
    print(f"{args.activation}: {r.seconds:.2f} s, final test accuracy {r.final_test_accuracy:.4f}")


if __name__ == "__main__":
    main()
