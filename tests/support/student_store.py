"""The student's study of issue 19, hand-built: tanh vs relu × hidden [100, 50] vs [40, 20], 3 seeds,
final test accuracies chosen so that relu wins by +0.0143 at [100, 50] (per-seed differences 0.0140,
0.0150, 0.0139: resolved) and by +0.0031 at [40, 20] (0.0010, 0.0060, 0.0023: within noise), with
tanh's first-layer gradient a tenth of relu's."""

from __future__ import annotations

import shutil
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric

from tests.support.handbuilt import finish_parent, log_cell, start_parent

TANH = {"[100, 50]": [0.9000, 0.9050, 0.8980], "[40, 20]": [0.8950, 0.8900, 0.8990]}
RELU_MINUS_TANH = {"[100, 50]": [0.0140, 0.0150, 0.0139], "[40, 20]": [0.0010, 0.0060, 0.0023]}
FIRST_LAYER_GRADIENT = {"tanh": 0.05, "relu": 0.5}
# Fixed settings as the writer records them: Adam with He weights, so rho and init_std do nothing.
FIXED_PARAMS = {"optimizer.name": "adam", "optimizer.rho": "0.99", "model.initializer": "he", "model.init_std": "0.01"}


def final_accuracies() -> dict[tuple[str, str], list[float]]:
    """(activation, hidden) -> final test accuracy per seed."""
    out = {}
    for hidden, tanh in TANH.items():
        out[("tanh", hidden)] = tanh
        out[("relu", hidden)] = [t + d for t, d in zip(tanh, RELU_MINUS_TANH[hidden])]
    return out


def gradients(activation: str) -> list[Metric]:
    """grad_norm per layer at steps 10, 20, 30: the first layer's is FIRST_LAYER_GRADIENT of the output's."""
    first = FIRST_LAYER_GRADIENT[activation]
    return [
        Metric(f"grad_norm/{layer}", value, 0, step)
        for step in (10, 20, 30)
        for layer, value in (("dense_1", first), ("dense_2", 0.8), ("dense_3", 1.0))
    ]


def build_student_store(root: Path, blank_db: Path) -> str:
    """The study `student` in root/mlflow.db; returns the tracking URI."""
    shutil.copy(blank_db, root / "mlflow.db")
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)
    experiment = client.create_experiment("student", artifact_location=str(root / "artifacts" / "student"))
    parent = start_parent(client, experiment, "student", ["model.activation", "model.hidden"])
    for (activation, hidden), finals in final_accuracies().items():
        for seed, final in enumerate(finals):
            axes = {"activation": activation, "hidden": hidden}
            curve = [0.10, 0.80, final - 0.004, final]
            log_cell(client, experiment, parent, axes, seed, curve, 0.01, extra=(gradients(activation), FIXED_PARAMS))
    finish_parent(client, parent, None, root)
    return uri
