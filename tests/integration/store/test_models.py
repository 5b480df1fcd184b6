"""Trained models in the store (study/store/models.py): logged per cell with MLflow's Keras flavour, loaded
back through `mlflow.pyfunc` / `mlflow.keras`, and kept for all, the best or no cell."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

import study
from study.errors import StudyError
from study.store.contract import Artifact, Tag
from study.store.models import PARKED_REASON
from study.store.parked import PARKED_DIR
from tests.support.store import MODELS_STUDY


@dataclass
class Ran:
    root: Path
    client: object
    runs: list  # the cell runs, in grid order
    parent: object
    tracking_uri: str


def run(tmp_path_factory, blank_db, mnist_dir, keep: str, extra: str = "") -> Ran:
    """`run_study` of MODELS_STUDY with `tracking.keep_model: keep` into a fresh store."""
    import shutil

    from mlflow.tracking import MlflowClient

    from study.check.validated_study import load_study
    from study.execution.driver import run_study
    from study.execution.options import RunOptions

    root = tmp_path_factory.mktemp(f"models-{keep}")
    (root / "mlruns").mkdir()
    shutil.copy(blank_db, root / "mlruns" / "mlflow.db")
    path = root / "models.yaml"
    path.write_text(MODELS_STUDY.format(data_dir=json.dumps(str(mnist_dir)), keep=keep, extra=extra), encoding="utf-8")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        result = run_study(load_study(path), RunOptions(progress=False))
    assert result.exit_code == 0
    client = MlflowClient(result.tracking_uri)
    order = {r.cell.name: r.cell.index for r in result.results}
    exp = client.get_experiment_by_name("models").experiment_id
    cells = sorted(client.search_runs([exp], f"tags.`{Tag.ROLE}` = 'cell'"), key=lambda r: order[r.info.run_name])
    return Ran(root, client, cells, client.get_run(result.parent_id), result.tracking_uri)


@pytest.fixture(scope="module")
def all_kept(tmp_path_factory, blank_db, mnist_dir) -> Ran:
    return run(tmp_path_factory, blank_db, mnist_dir, "all")


@pytest.fixture
def tracking(all_kept, monkeypatch):
    """mlflow's fluent API (`runs:/` and `models:/` URIs) pointed at the store."""
    # First TensorFlow with this package's threads: MLflow's loaders import Keras, and later tests need exact numerics.
    import study.runtime.tensorflow_setup  # noqa: F401

    # isort: split
    import mlflow

    monkeypatch.chdir(all_kept.root)
    mlflow.set_tracking_uri(all_kept.tracking_uri)
    yield all_kept
    mlflow.set_tracking_uri(None)


def test_pyfunc_model_reproduces_the_final_test_accuracy_exactly(tracking, mnist_dir):
    """Same subset, inference mode (BN's moving statistics, no dropout): the logged model's predictions
    give the run's final_test_acc to the last bit, for every cell."""
    import mlflow

    from study.data.loading import load_dataset

    data = load_dataset("mnist", mnist_dir, 300, 200)
    for run in tracking.runs:
        model = mlflow.pyfunc.load_model(f"runs:/{run.info.run_id}/{Artifact.MODEL}")
        probs = model.predict(data.x_test)
        assert probs.shape == (200, 10) and probs.dtype == np.float32
        accuracy = int((probs.argmax(axis=1) == data.y_test).sum()) / len(data.y_test)
        assert accuracy == run.data.metrics["final_test_acc"], run.info.run_name


def test_model_uri_tag_names_the_run_output_and_loads_as_keras(tracking):
    import mlflow

    run = tracking.runs[0]
    uri = run.data.tags[Tag.MODEL]
    model_id = uri.removeprefix("models:/")
    assert [o.model_id for o in run.outputs.model_outputs] == [model_id]
    logged = tracking.client.get_logged_model(model_id)
    assert logged.name == Artifact.MODEL and logged.source_run_id == run.info.run_id
    assert str(logged.status) in ("READY", "LoggedModelStatus.READY")
    model = mlflow.keras.load_model(uri)
    assert [layer.name for layer in model.layers if layer.name.startswith("bn")] == ["bn_1", "bn_2"]
    info = mlflow.models.get_model_info(uri)
    assert info.signature.inputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 784)
    assert info.signature.outputs.to_dict()[0]["tensor-spec"]["shape"] == (-1, 10)
    example = mlflow.models.Model.load(uri).load_input_example(mlflow.artifacts.download_artifacts(uri))
    assert np.asarray(example).shape == (2, 784)


def test_keep_all_names_the_best_model_on_the_parent(all_kept):
    assert all("system/cpu_utilization_percentage" in r.data.metrics for r in all_kept.runs)  # on by default
    best = max(all_kept.runs, key=lambda r: r.data.metrics["final_test_acc"])
    assert all(r.data.tags[Tag.MODEL].startswith("models:/") for r in all_kept.runs)
    assert all_kept.parent.data.tags[Tag.BEST_MODEL] == best.data.tags[Tag.MODEL]
    assert all_kept.parent.data.tags[Tag.BEST_MODEL_METRIC] == "final_test_acc"  # no validation set: the test set's
    with pytest.raises(StudyError, match=r"^metric: 'best_val_acc': the runs of run \S+ of study 'models' .* held no "):
        study.best_model("models", metric="best_val_acc", store=all_kept.tracking_uri)


def test_keep_best_drops_the_other_models_and_their_files(tmp_path_factory, blank_db, mnist_dir, all_kept):
    ran = run(tmp_path_factory, blank_db, mnist_dir, "best")
    accs = [r.data.metrics["final_test_acc"] for r in ran.runs]
    assert accs == [r.data.metrics["final_test_acc"] for r in all_kept.runs]  # keeping models changes no number
    best = ran.runs[int(np.argmax(accs))]
    assert ran.parent.data.tags[Tag.BEST_MODEL] == best.data.tags[Tag.MODEL]
    exp = best.info.experiment_id
    assert [m.model_id for m in ran.client.search_logged_models([exp])] == [
        best.data.tags[Tag.MODEL][len("models:/") :]
    ]
    for r in ran.runs:
        if r.info.run_id != best.info.run_id:
            assert r.data.tags[Tag.MODEL] == PARKED_REASON  # parked, never uploaded: the best one's was
    assert not list((ran.root / "mlruns" / PARKED_DIR).iterdir())  # every parked save was used or removed
    models_dir = ran.root / "mlruns" / "artifacts" / "models" / "models"
    with_files = {p.relative_to(models_dir).parts[0] for p in models_dir.rglob("*") if p.is_file()}
    assert with_files == {best.data.tags[Tag.MODEL][len("models:/") :]}


def test_keep_none_logs_no_model_and_system_metrics_can_be_switched_off(tmp_path_factory, blank_db, mnist_dir):
    ran = run(tmp_path_factory, blank_db, mnist_dir, "none", ", system_metrics: false")
    assert not [k for r in ran.runs for k in r.data.metrics if k.startswith("system/")]
    assert ran.client.search_logged_models([ran.runs[0].info.experiment_id]) == []
    assert all(Tag.MODEL not in r.data.tags for r in ran.runs) and Tag.BEST_MODEL not in ran.parent.data.tags
    with pytest.raises(StudyError) as err:
        study.best_model("models", store=ran.tracking_uri)
    assert str(err.value) == (
        f"run {ran.parent.info.run_id} of study 'models' ({ran.parent.info.run_name}) kept no model "
        "(tracking.keep_model: none, or its models were deleted): set tracking.keep_model: best in the study file "
        "and train its cells again (`study run FILE --rerun`)"
    )
    assert not (ran.root / "mlruns" / "artifacts" / "models" / "models").exists()


def test_packaging_a_keras_file_writes_what_mlflow_keras_save_model_writes(tmp_path):
    """`package` (the driver, without Keras) gives the directory `mlflow.keras.save_model` writes for the
    same model: the same files, flavours, environment, signature and input example, and it loads back
    through both loaders to the same predictions."""
    from study.engine.backend import keras  # first: this process's numerics, before anything imports Keras

    # isort: split
    import mlflow.keras
    import mlflow.pyfunc
    import yaml

    from study.engine.build import save_keras
    from study.store.models import package, pip_requirements, signature

    model = keras.Sequential([keras.Input((12,)), keras.layers.Dense(3, activation="softmax")])
    x = np.random.default_rng(0).random((5, 12), dtype=np.float32)
    reference = tmp_path / "reference"
    reference.mkdir()  # as the package's save did before (mlflow.keras writes into an existing folder)
    mlflow.keras.save_model(
        model, str(reference), signature=signature((12,), 3), input_example=x[:2], pip_requirements=pip_requirements()
    )
    saved = save_keras(model, x, 3)
    ours = Path(package(saved))
    assert not Path(saved.path).exists()  # moved into the package

    def files(root: Path) -> set[str]:
        return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}

    assert files(ours) == files(reference)
    for name in ("conda.yaml", "python_env.yaml", "requirements.txt", "input_example.json",
                 "serving_input_example.json", "data/keras_module.txt"):  # fmt: skip
        assert (ours / name).read_bytes() == (reference / name).read_bytes(), name
    mine, theirs = (yaml.safe_load((root / "MLmodel").read_text()) for root in (ours, reference))
    for key in ("signature", "saved_input_example_info", "mlflow_version"):
        assert mine[key] == theirs[key], key
    assert mine["flavors"]["keras"] == theirs["flavors"]["keras"]
    for key, value in theirs["flavors"]["python_function"].items():
        assert mine["flavors"]["python_function"][key] == value, key
    assert mine["model_size_bytes"] == sum(
        f.stat().st_size for f in ours.rglob("*") if f.is_file() and f.name != "MLmodel"
    )
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(mlflow.keras.load_model(ours).predict(x, verbose=0), expected)
    np.testing.assert_array_equal(mlflow.pyfunc.load_model(str(ours)).predict(x), expected)


def test_the_temporary_model_folders_of_ended_processes_are_removed(tmp_path):
    """`study-model-<pid>-…` and `study-keras-<pid>-…` of a process that has ended go; this process's own
    folders, a live process's and anything else stay."""
    import subprocess
    import sys

    from study.store.models import remove_orphans

    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead, mine = int(ended.stdout), os.getpid()
    names = [f"study-model-{dead}-a1", f"study-keras-{dead}-b2", f"study-model-{mine}-c3", f"study-keras-{mine}-d4"]
    names += ["study-model-x-e5", "study-report-123-f6", f"study-model-{os.getppid()}-g7"]
    for name in names:
        (tmp_path / name).mkdir()
    (tmp_path / f"study-model-{dead}-file").write_text("not a folder")
    removed = remove_orphans(str(tmp_path))
    assert sorted(Path(p).name for p in removed) == [f"study-keras-{dead}-b2", f"study-model-{dead}-a1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([*names[2:], f"study-model-{dead}-file"])
