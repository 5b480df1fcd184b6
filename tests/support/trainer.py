"""Settings, jobs and a driver-side callback for the training process's tests (study/execution/trainer.py)."""

from __future__ import annotations

from pathlib import Path

from study.execution.trainer import DataSource, Job
from study.spec.settings import Settings
from tests.support.doubles import Recorder


def settings(mnist_dir: Path, activation: str = "relu", iterations: int = 60) -> Settings:
    return Settings.model_validate(
        {
            "data": {"name": "mnist", "dir": str(mnist_dir), "train_size": 400, "test_size": 200},
            "model": {"hidden": [20], "activation": activation, "initializer": "he"},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "train": {"iterations": iterations, "batch_size": 20, "eval_every": 10, "steps_per_call": 20},
        }
    )


def job(s: Settings, seed: int = 0) -> Job:
    return Job(s, seed, DataSource.of(s.data))


class Described(Recorder):
    """A Recorder for the driver's side, where `set_model` gets a ModelDescription, not the Keras model."""

    def set_model(self, model) -> None:
        self.described = model

    def on_train_begin(self, logs=None) -> None:
        pass
