"""A cell's trained model in the store: an MLflow model of Keras's flavour, logged as an MLflow 3 LoggedModel.

Keras saves the model where it trained (on the training thread,
before a cached engine trains the next cell into the same Keras model). Here, without Keras, `package`
puts that file into the directory `mlflow.keras.save_model` writes (tested equal; ~0.01 s, so a
failure still fails its cell), and `log_saved` uploads it on the background writer before the run
ends FINISHED: the training process never imports MLflow. The LoggedModel is named `model` and its
source run is the cell run, so both `models:/<model_id>` and `runs:/<run_id>/model` load it::

    mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(x)    # softmax probabilities
    mlflow.keras.load_model(f"models:/{model_id}")                   # the keras.Sequential

`tracking.keep_model: best` keeps only the best cell's model of each `study run` (`best_run`).
"""

from __future__ import annotations

import logging
import os
import shutil
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import metadata
from pathlib import Path

import numpy as np

from study.engine.records import KERAS_TEMP_PREFIX, SavedKeras
from study.spec.summary_metrics import higher_is_better
from study.store.claims import pid_alive
from study.store.connect import retry
from study.store.contract import Artifact, Tag

CODE_DIR = "code"  # a builder's model: its code, on Python's path when MLflow's pyfunc loads it
CODE_LOADER = "study_model_loader"  # the pyfunc loader written beside that code (imports it, then loads)
LOADER_TEXT = """\
\"\"\"Loads this Keras model for mlflow.pyfunc: the modules that define its custom layers (beside this file)
are imported first, so their classes are registered with Keras, then mlflow.keras loads it.\"\"\"

import importlib

MODULES = {modules!r}


def _load_pyfunc(path):
    for name in MODULES:
        importlib.import_module(name)
    from mlflow.keras.load import _load_pyfunc as load

    return load(path)
"""
PYFUNC_LOGGER = "mlflow.pyfunc"  # says at INFO that it validates the input example, per model saved
MODEL_PACKAGES = ("keras", "tensorflow", "numpy")  # what loading the model needs, pinned as installed
KERAS_DATA = "data"  # the flavour's folder: the `.keras` file and the name of the module that loads it


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
    """Import what packaging a model needs, once per process (~0.3 s): the writer runs it while the
    training process starts, so packaging the first cell's model does not wait for it."""
    import mlflow.models.signature  # noqa: F401
    import mlflow.pyfunc  # noqa: F401
    import mlflow.types.schema  # noqa: F401

    try:  # MLflow's map of installed packages, built on a model's first save to check its requirements
        from mlflow.utils.requirements_utils import _init_packages_to_modules_map

        _init_packages_to_modules_map()
    except Exception:  # noqa: BLE001, S110 - a private helper of MLflow's: without it the first save builds the map
        pass


MODEL_TEMP_PREFIX = "study-model-"  # + pid: see remove_orphans
# `study.model` of a cell run whose save waits beside the store (study/store/parked.py): the best one's is replaced
# by its `models:/` URI at the study's end
PARKED_REASON = "not kept (tracking.keep_model: best; the parent run's study.best_model names the model kept)"


def package(saved: SavedKeras) -> str:
    """The MLflow model directory of a model Keras saved: the files `mlflow.keras.save_model` writes (its
    `keras` flavour, the pyfunc loader `mlflow.keras`, environment, signature and input example), with
    the `.keras` file moved in. Returns the directory (in a new temporary folder); on a failure nothing
    is left behind, the Keras file included."""
    path = os.path.join(tempfile.mkdtemp(prefix=f"{MODEL_TEMP_PREFIX}{os.getpid()}-"), Artifact.MODEL)
    try:
        write_package(saved, path)
    except BaseException:
        discard(path)
        raise
    finally:
        shutil.rmtree(os.path.dirname(saved.path), ignore_errors=True)  # the Keras file's own folder
    return path


@contextmanager
def quiet(name: str) -> Iterator[None]:
    """A logger's INFO lines left out while the block runs."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def write_package(saved: SavedKeras, path: str) -> None:
    """Write `package`'s files into `path`, which does not exist yet."""
    from mlflow import pyfunc
    from mlflow.models import Model

    flavour = Model()
    flavour.add_flavor(
        "keras",
        data=KERAS_DATA,
        keras_version=saved.keras_version,
        keras_backend=saved.keras_backend,
        save_exported_model=False,
    )
    with quiet(PYFUNC_LOGGER):  # "Validating input example against model signature", once per model
        pyfunc.save_model(
            path,
            loader_module="mlflow.keras" if not saved.code else CODE_LOADER,
            mlflow_model=flavour,
            signature=signature(tuple(saved.example.shape[1:]), saved.num_outputs),
            input_example=saved.example,
            pip_requirements=pip_requirements(),
        )
    data = Path(path, KERAS_DATA)
    data.mkdir()
    shutil.move(saved.path, data / Path(saved.path).name)
    (data / "keras_module.txt").write_text("keras", encoding="utf-8")  # as mlflow.keras writes it
    if saved.code:
        write_code(saved, Path(path, CODE_DIR))
        flavour.flavors["python_function"]["code"] = CODE_DIR
    files = [f for f in Path(path).rglob("*") if f.is_file() and f.name != "MLmodel"]
    flavour.model_size_bytes = sum(f.stat().st_size for f in files)  # (pyfunc filled in the rest of it)
    flavour.save(os.path.join(path, "MLmodel"))


def write_code(saved: SavedKeras, folder: Path) -> None:
    """A builder's code files under `folder` as they lie under their root, and the pyfunc loader that imports
    them: the model loads in a process that has never seen the study (mlflow.keras.load_model: import the
    module first, as Keras asks for any custom layer)."""
    for name, source in saved.code.items():
        target = folder / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    (folder / f"{CODE_LOADER}.py").write_text(LOADER_TEXT.format(modules=list(saved.modules)), encoding="utf-8")


def import_model_code(folder: str | Path) -> list[str]:
    """Import the code a builder's model carries (its `code/` folder, put first on Python's path), so Keras
    finds its custom layers when the model is loaded here; returns the modules imported (none for a stack's)."""
    import importlib
    import runpy
    import sys

    code = Path(folder, CODE_DIR)
    loader = code / f"{CODE_LOADER}.py"
    if not loader.is_file():
        return []
    if str(code) not in sys.path:
        sys.path.insert(0, str(code))
    modules = list(runpy.run_path(str(loader))["MODULES"])  # this model's list (another's loader may be imported)
    for name in modules:
        importlib.import_module(name)
    return modules


def discard(path: str) -> None:
    """Remove a packaged model's temporary folder (uploaded, or failed half-way)."""
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


def remove_orphans(folder: str | None = None) -> list[str]:
    """Remove the temporary model folders (`study-model-<pid>-…`, `study-keras-<pid>-…`) that a process
    which has ended left behind (a driver or training process killed before its upload); returns them."""
    removed = []
    for prefix in (MODEL_TEMP_PREFIX, KERAS_TEMP_PREFIX):
        for entry in Path(folder or tempfile.gettempdir()).glob(f"{prefix}*-*"):
            pid = entry.name.removeprefix(prefix).partition("-")[0]
            if pid.isdigit() and entry.is_dir() and not pid_alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(str(entry))
    return removed


def log_saved(client, run_id: str, path: str, step: int) -> str:
    """Upload a packaged model as the run's LoggedModel `model`, linked as the run's output at `step`;
    removes the local copy. Returns the model's `models:/` URI."""
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
        discard(path)
    uri = f"models:/{logged.model_id}"
    retry(client.set_tag, run_id, Tag.MODEL, uri)
    return uri


def model_id(uri: object) -> str | None:
    """The model id of a `study.model` tag value; None when the tag says no model is kept, or is missing
    (a pruned trial's run has none: NaN in a table of runs)."""
    return uri.removeprefix("models:/") if isinstance(uri, str) and uri.startswith("models:/") else None


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


@dataclass(frozen=True)
class Best:
    """The run whose model is kept: the best cell by `metric` (its mean over seeds), that cell's best seed."""

    run_id: str
    metric: str
    value: float


def best_run(results: list[tuple[str, str | None, dict[str, float]]], metric: str) -> Best | None:
    """Among (cell, run id, summary metrics) rows, the cell whose runs have the best mean `metric` (maximum for
    accuracy, minimum for a loss or an error), then its run with the best value; the first on ties."""
    cells: dict[str, list[tuple[float, str]]] = {}
    for cell, run_id, metrics in results:
        if run_id and metric in metrics:
            cells.setdefault(cell, []).append((metrics[metric], run_id))
    if not cells:
        return None
    sign = 1 if higher_is_better(metric) else -1
    runs = max(cells.values(), key=lambda rows: sign * statistics.fmean(v for v, _ in rows))  # first of equals
    value, run_id = max(runs, key=lambda row: sign * row[0])
    return Best(run_id, metric, value)
