"""How fast this machine's TensorFlow trains one cell's net: the cell's own settings trained on random data
of its shapes, timed the second time round (the engine built and traced the first). Run as a process of its
own (`python -m study.engine.speed_probe`, a JSON request on stdin, a JSON answer on stdout), so that the
process asking imports no TensorFlow."""

from __future__ import annotations

import json
import sys

import numpy as np

from study.data.dataset import Dataset
from study.data.shape import DataShape
from study.spec.settings import Settings

PROBE_SEED = 0


def random_dataset(shape: DataShape) -> Dataset:
    """A dataset of `shape`'s rows and sample shape: uniform inputs in [0, 1) and uniform labels (or
    standard-normal targets), drawn from a fixed seed."""
    rng = np.random.default_rng(PROBE_SEED)

    def targets(rows: int) -> np.ndarray:
        if shape.num_classes:
            return rng.integers(0, shape.num_classes, rows, dtype=np.int32)
        return rng.standard_normal((rows,) if shape.num_outputs == 1 else (rows, shape.num_outputs), dtype=np.float32)

    return Dataset(
        name="speed_probe",
        x_train=rng.random((shape.train, *shape.input_shape), dtype=np.float32),
        y_train=targets(shape.train),
        x_test=rng.random((shape.test, *shape.input_shape), dtype=np.float32),
        y_test=targets(shape.test),
        digest="speed-probe",
        source=shape.source,
        targets="classes" if shape.num_classes else "real",
        num_classes=shape.num_classes,
    )


def probe_seconds(settings: Settings, shape: DataShape) -> float:
    """Seconds the engine takes to train `settings` on random data of `shape` once its graph is built and traced."""
    from study.engine.training_loop import train_and_evaluate

    dataset = random_dataset(shape)
    train_and_evaluate(settings, PROBE_SEED, dataset)  # builds the engine and traces its graph
    return train_and_evaluate(settings, PROBE_SEED, dataset).wall_time_s


def main() -> int:
    """Read {"settings": …, "data": …} (a DataShape's fields) from stdin, print {"seconds": …}."""
    request = json.loads(sys.stdin.read())
    shape = DataShape(**{**request["data"], "input_shape": tuple(request["data"]["input_shape"])})
    print(json.dumps({"seconds": probe_seconds(Settings.model_validate(request["settings"]), shape)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
