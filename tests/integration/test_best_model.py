"""`study.best_model` on a search scored on validation data (`search.metric: best_val_acc`, MNIST subsets: 300
training, 100 validation, 100 test images): the model kept is the trial with the best validation accuracy,
`best_model` loads it from the study file's project store, and its predictions on the test images give the
run's logged test accuracy; `metric=` picks another kept run. Refusals without a kept model or a validation
set: tests/integration/store/test_models.py."""

from __future__ import annotations

import numpy as np
import pytest

from study.errors import StudyError
from study.store.contract import Tag
from tests.support.runs import DATA_ENV, prepare_store
from tests.support.searches import validation_search_text


@pytest.fixture(scope="module")
def searched(tmp_path_factory, blank_db, mnist_dir):
    """Three trials of one seed, every model kept (so that `metric=` has runs to choose from)."""
    import study

    root = tmp_path_factory.mktemp("bestmodel")
    prepare_store(root, blank_db)
    path = root / "searchy.yaml"
    path.write_text(validation_search_text(3, "tracking: {keep_model: all, system_metrics: false}\n"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        mp.setenv(DATA_ENV, str(mnist_dir))
        result = study.run(path, progress=False)
    assert result.ok, result.table
    return path, result


@pytest.fixture
def client(searched):
    from mlflow import MlflowClient

    return MlflowClient(searched[1].store)


def cell_runs(client, result) -> list:
    return [client.get_run(run_id) for run_id in result.cells["run_id"]]


def test_the_kept_model_is_the_trial_with_the_best_validation_accuracy(searched, client):
    _, result = searched
    runs = cell_runs(client, result)
    best = max(runs, key=lambda r: r.data.metrics["best_val_acc"])
    parent = client.get_run(result.parent_run_id).data.tags
    assert parent[Tag.BEST_MODEL] == best.data.tags[Tag.MODEL]
    assert parent[Tag.BEST_MODEL_METRIC] == "best_val_acc"
    on_test = max(runs, key=lambda r: r.data.metrics["best_test_acc"])
    assert on_test.info.run_id != best.info.run_id  # tuning on the test set would have kept another trial


def test_best_model_loads_it_and_its_test_predictions_give_the_runs_test_accuracy(
    searched, client, monkeypatch, mnist_dir
):
    import study
    from study.data.loading import load
    from study.store.cell_config import logged_settings

    path, result = searched
    monkeypatch.chdir(path.parent.parent)  # elsewhere: the store is the study file's project's
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    best = study.best_model(path)
    kept = client.get_run(result.parent_run_id).data.tags[Tag.BEST_MODEL]
    assert best.uri == kept and best.metric == "best_val_acc"
    assert best.value == best.run.data.metrics["best_val_acc"]
    data = load(logged_settings(client, best.run.info.run_id)[0].data)
    assert len(data.y_test) == 100 and len(data.y_val) == 100
    predicted = np.asarray(best.model.predict(data.x_test, verbose=0)).argmax(axis=1)
    assert np.mean(predicted == data.y_test) == pytest.approx(best.run.data.metrics["final_test_acc"], abs=1e-6)
    by_name = study.best_model("searchy", store=path.parent / "mlruns")
    assert by_name.run.info.run_id == best.run.info.run_id


def test_best_model_by_another_metric_is_the_kept_run_with_its_best_value(searched, client):
    import study

    path, result = searched
    runs = cell_runs(client, result)
    lowest = min(runs, key=lambda r: r.data.metrics["final_val_loss"])
    best = study.best_model(result.parent_run_id, metric="final_val_loss", store=result.store)
    assert best.run.info.run_id == lowest.info.run_id and best.metric == "final_val_loss"
    assert best.value == min(r.data.metrics["final_val_loss"] for r in runs)
    with pytest.raises(StudyError, match=r"^metric: 'final_test_mae' is not recorded by the runs of run "):
        study.best_model(path, metric="final_test_mae")
    with pytest.raises(StudyError, match=r"^metric: 'val_acc' is not a summary metric \(valid: final_test_acc, "):
        study.best_model(path, metric="val_acc")
