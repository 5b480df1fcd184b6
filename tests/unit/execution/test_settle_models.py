"""`keep_model: best` at a study's end (study/execution/parent.py `settle_models`) on a SQLite store whose cells
parked their Keras saves: the best run's save is packaged and uploaded, even when it was parked by an earlier
`study run` that was killed, and every other parked save is removed."""

from __future__ import annotations

import logging

import numpy as np

from study.check.validated_study import study_from_dict
from study.engine.records import SavedKeras
from study.execution.cell import CellResult
from study.execution.parent import settle_models
from study.plan.grid import expand
from study.store.contract import Tag
from study.store.models import PARKED_REASON, PYFUNC_LOGGER
from study.store.parked import park, parking

STUDY = {
    "study": "toy",
    "base": {"model": {"hidden": [4]}, "train": {"iterations": 20, "batch_size": 10, "eval_every": 10}},
    "grid": {"model.activation": ["relu", "sigmoid"]},
    "seeds": [0],
}


def parked_run(store, exp_id: str, parent: str, cell, tmp_path, status: str = "FINISHED") -> str:
    """A cell run whose stand-in Keras save is parked, as a killed `study run` leaves it."""
    run_id = store.start_cell(
        exp_id, parent, "toy", cell, ["model.activation"], "mnist", "d1", 10, {Tag.MODEL: PARKED_REASON}
    )
    folder = tmp_path / f"study-keras-1-{run_id}"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"weights of " + run_id.encode())
    example = np.zeros((2, 784), np.float32)
    park(store.uri, run_id, SavedKeras(str(folder / "model.keras"), "3.0", "tensorflow", example, 10), 20)
    store.end(run_id, status)
    return run_id


def test_the_best_parked_save_of_a_killed_run_is_kept_by_the_next_one(blank_store, tmp_path, caplog):
    study = study_from_dict(STUDY, "toy.yaml")
    relu, sigmoid = expand(study)
    exp_id = blank_store.experiment_id("toy")
    killed = blank_store.start_parent(exp_id, "toy", {})  # killed with -9 after both cells were FINISHED
    worse, better = (parked_run(blank_store, exp_id, killed, c, tmp_path) for c in (relu, sigmoid))
    parked_run(blank_store, exp_id, killed, relu, tmp_path, "FAILED")  # a store fault while it was being closed
    parent = blank_store.start_parent(exp_id, "toy", {})
    results = [
        CellResult(relu, "skipped", worse, {"final_test_acc": 0.5}),
        CellResult(sigmoid, "skipped", better, {"final_test_acc": 0.9}),
    ]
    with caplog.at_level(logging.INFO, logger=PYFUNC_LOGGER):
        settle_models(blank_store, parent, study, results)
    assert "Validating input example" not in caplog.text  # no MLflow INFO line per model packaged
    uri = blank_store.client.get_run(better).data.tags[Tag.MODEL]
    assert uri.startswith("models:/")
    assert blank_store.client.get_run(worse).data.tags[Tag.MODEL] == PARKED_REASON
    assert blank_store.client.get_run(parent).data.tags[Tag.BEST_MODEL] == uri
    logged = blank_store.client.get_logged_model(uri.removeprefix("models:/"))
    assert logged.source_run_id == better
    files = {a.path for a in blank_store.client.list_logged_model_artifacts(logged.model_id)}
    assert "MLmodel" in files
    assert list(parking(blank_store.uri).iterdir()) == []  # the other saves are removed, the failed run's too
