"""A cell's trained model in the store: saved with MLflow's Keras flavour, logged as an MLflow 3 LoggedModel.

Saving happens on the training thread (`save_local`, before the cached engine trains the next cell
into the same Keras model); the upload (`log_saved`) runs on the background writer before the run
ends FINISHED. The LoggedModel is named `model` and its source run is the cell run, so both
`models:/<model_id>` and `runs:/<run_id>/model` load it::

    mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(x)    # softmax probabilities
    mlflow.keras.load_model(f"models:/{model_id}")                   # the keras.Sequential

`tracking.keep_model: best` keeps only the best cell's model of each `study run` (`prune`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from functools import cache
from importlib import metadata

import numpy as np

from study.store.connect import retry
from study.store.contract import Artifact, Tag

EXAMPLE_ROWS = 2  # test images stored as the model's input example
MODEL_PACKAGES = ("keras", "tensorflow", "numpy")  # what loading the model needs, pinned as installed


def pip_requirements() -> list[str]:
    """The model's requirements, exact versions (MLflow adds itself); given so MLflow does not infer
    them by loading the model in a subprocess (seconds per cell)."""
    return [f"{pkg}=={metadata.version(pkg)}" for pkg in MODEL_PACKAGES]


def signature(input_shape: tuple[int, ...], num_classes: int):
    """Input: float32 images of the dataset's shape, any batch; output: float32 class probabilities."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    return ModelSignature(
        inputs=Schema([TensorSpec(np.dtype(np.float32), (-1, *input_shape))]),
        outputs=Schema([TensorSpec(np.dtype(np.float32), (-1, num_classes))]),
    )


@cache
def preload() -> None:
    """Import what saving a model needs (~1 s, once per process): run on the writer thread while the
    first cell trains, so `save_local` on the training thread does not pay for it after the cell."""
    import mlflow.keras  # noqa: F401
    import mlflow.models.signature  # noqa: F401
    import mlflow.types.schema  # noqa: F401

    try:  # MLflow's map of installed packages, built on a model's first save to check its requirements (~0.8 s)
        from mlflow.utils.requirements_utils import _init_packages_to_modules_map

        _init_packages_to_modules_map()
    except Exception:  # noqa: BLE001, S110 - a private helper of MLflow's: without it the first save builds the map
        pass


def save_local(model, x_example: np.ndarray, num_classes: int) -> str:
    """Save the Keras model as an MLflow model in a new temporary directory; returns the directory."""
    import mlflow.keras

    folder = tempfile.mkdtemp(prefix="study-model-")
    path = os.path.join(folder, Artifact.MODEL)
    os.mkdir(path)
    mlflow.keras.save_model(
        model,
        path,
        signature=signature(tuple(x_example.shape[1:]), num_classes),
        input_example=np.ascontiguousarray(x_example[:EXAMPLE_ROWS], np.float32),
        pip_requirements=pip_requirements(),
    )
    return path


def log_saved(client, run_id: str, path: str, step: int) -> str:
    """Upload a `save_local` model as the run's LoggedModel `model`, linked as the run's output at
    `step`; removes the local copy. Returns the model's `models:/` URI."""
    from mlflow.entities import LoggedModelOutput
    from mlflow.models import Model

    try:
        experiment_id = retry(client.get_run, run_id).info.experiment_id
        logged = retry(client.create_logged_model, experiment_id, Artifact.MODEL, run_id)
        mlmodel = Model.load(path)  # record where it lives, as mlflow.keras.log_model does
        mlmodel.run_id, mlmodel.model_id, mlmodel.model_uuid = run_id, logged.model_id, logged.model_id
        mlmodel.artifact_path = logged.artifact_location
        mlmodel.save(os.path.join(path, "MLmodel"))
        retry(client.log_model_artifacts, logged.model_id, path)
        retry(client.log_outputs, run_id, [LoggedModelOutput(logged.model_id, step)])
        retry(client.finalize_logged_model, logged.model_id, "READY")
    finally:
        shutil.rmtree(os.path.dirname(path), ignore_errors=True)
    uri = f"models:/{logged.model_id}"
    retry(client.set_tag, run_id, Tag.MODEL, uri)
    return uri


def model_id(uri: str | None) -> str | None:
    """The model id of a `study.model` tag value, None when the tag says no model is kept."""
    return uri.removeprefix("models:/") if uri and uri.startswith("models:/") else None


def drop(client, run_id: str, uri: str | None, reason: str) -> None:
    """Delete a kept model and its files (`keep_model: best` for a cell that is not the best); the
    run's tag says why."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    found = model_id(uri)
    if found is None:
        return
    location = retry(client.get_logged_model, found).artifact_location
    retry(client.delete_logged_model, found)
    get_artifact_repository(location).delete_artifacts()
    retry(client.set_tag, run_id, Tag.MODEL, reason)


def best_run(results: list[tuple[str, str | None, dict[str, float]]]) -> str | None:
    """The run id with the highest final_val_acc (when every cell holds a validation set out, so the
    test set only reports) or else final_test_acc among (name, run id, metrics); the first on ties."""
    ran = [m for _, rid, m in results if rid]
    key = "final_val_acc" if ran and all("final_val_acc" in m for m in ran) else "final_test_acc"
    scored = [(m[key], -k, rid) for k, (_, rid, m) in enumerate(results) if rid and key in m]
    return max(scored)[2] if scored else None
