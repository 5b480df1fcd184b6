"""How fast this machine's TensorFlow trains one cell's net: the cell's own settings trained on random data
of its shapes, timed the second time round (the engine built and traced the first). Run as a process of its
own (`python -m study.engine.speed_probe`, a JSON request on stdin, a JSON answer on stdout), so that the
process asking imports no TensorFlow."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import numpy as np

from study.data.dataset import Dataset
from study.spec.settings import Settings

PROBE_SEED = 0


@dataclass(frozen=True)
class ProbeData:
    """The random dataset a probe trains on: its splits' rows, one sample's shape and its targets."""

    train: int
    test: int
    input_shape: tuple[int, ...]
    num_classes: int  # 0 for real targets
    num_outputs: int

    def dataset(self) -> Dataset:
        """Uniform inputs in [0, 1) and uniform labels (or standard-normal targets), drawn from a fixed seed."""
        rng = np.random.default_rng(PROBE_SEED)

        def targets(rows: int) -> np.ndarray:
            if self.num_classes:
                return rng.integers(0, self.num_classes, rows, dtype=np.int32)
            shape = (rows,) if self.num_outputs == 1 else (rows, self.num_outputs)
            return rng.standard_normal(shape, dtype=np.float32)

        x_train = rng.random((self.train, *self.input_shape), dtype=np.float32)
        x_test = rng.random((self.test, *self.input_shape), dtype=np.float32)
        return Dataset(
            name="speed_probe",
            x_train=x_train,
            y_train=targets(self.train),
            x_test=x_test,
            y_test=targets(self.test),
            digest="speed-probe",
            source="random",
            targets="classes" if self.num_classes else "real",
            num_classes=self.num_classes,
        )


def probe_seconds(settings: Settings, data: ProbeData) -> float:
    """Seconds the engine takes to train `settings` on `data` once its graph is built and traced."""
    from study.engine.training_loop import train_and_evaluate

    dataset = data.dataset()
    train_and_evaluate(settings, PROBE_SEED, dataset)  # builds the engine and traces its graph
    return train_and_evaluate(settings, PROBE_SEED, dataset).wall_time_s


def main() -> int:
    """Read {"settings": …, "data": …} from stdin, print {"seconds": …}."""
    request = json.loads(sys.stdin.read())
    data = request["data"]
    probe = ProbeData(data["train"], data["test"], tuple(data["input_shape"]), data["num_classes"], data["num_outputs"])
    seconds = probe_seconds(Settings.model_validate(request["settings"]), probe)
    print(json.dumps({"seconds": seconds}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
