"""What one cell's run holds (study/execution/cell.py), read from the tiny end-to-end study of
tests/integration/execution/conftest.py (`trained`): tags and params, metric histories by the course's protocol,
artifacts; and that the stored values are the engine's, whatever its chunk schedule.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from study.engine.records import exact_ratio
from study.execution.datasets import cell_data
from tests.support.doubles import Recorder
from tests.support.runs import CURVES, EVAL_STEPS, ITERATIONS


def test_child_tags_and_params(trained):
    for cell, run in zip(trained.cells, trained.children(trained.result.parent_id)):
        tags, params = run.data.tags, run.data.params
        assert tags["mlflow.parentRunId"] == trained.result.parent_id
        assert tags["study.role"] == "cell" and tags["study.cell"] == cell.group
        assert tags["study.config_hash"] == cell.config_hash and tags["study.seed"] == "0"
        assert tags["study.dataset"] == "mnist"
        assert tags["study.dataset_digest"] == cell_data(cell).digest and len(tags["study.dataset_digest"]) == 16
        assert tags["study.versions.tensorflow"] and tags["study.versions.mlflow"]
        assert tags["axis.activation"] == cell.settings.model.activation
        assert params["model.activation"] == params["activation"] == cell.settings.model.activation
        assert params["train.iterations"] == "60" and params["optimizer.lr"] == "0.1"
        assert params["model.hidden"] == "[40,20]" and params["seed"] == "0"


def test_metric_histories_follow_the_protocol(trained):
    for run in trained.children(trained.result.parent_id):
        run_id = run.info.run_id
        loss = trained.history(run_id, "train_loss")
        assert [s for s, _ in loss] == list(range(1, ITERATIONS + 1))
        assert all(np.isfinite(v) and v > 0 for _, v in loss)
        for key in ("test_acc", "train_acc", "test_loss"):
            assert [s for s, _ in trained.history(run_id, key)] == EVAL_STEPS, key
        test_acc = trained.history(run_id, "test_acc")
        assert all(0 <= v <= 1 for _, v in test_acc)
        # the summary accuracies are exact count ratios (0.232, not the float32 0.23200001 of the history)
        test_rows, train_rows = 200, 500  # STUDY's subsets; train_acc is on the whole training subset
        assert run.data.metrics["final_test_acc"] == exact_ratio(test_acc[-1][1], test_rows)
        assert run.data.metrics["best_test_acc"] == exact_ratio(max(v for _, v in test_acc), test_rows)
        final_train = run.data.metrics["final_train_acc"]
        assert final_train == exact_ratio(trained.history(run_id, "train_acc")[-1][1], train_rows)
        for value, rows in ((run.data.metrics["final_test_acc"], test_rows), (final_train, train_rows)):
            assert value * rows == round(value * rows) and repr(value) == repr(round(value * rows) / rows)


def test_relu_learns_in_sixty_iterations(trained):
    relu = trained.children(trained.result.parent_id)[1]
    acc = trained.history(relu.info.run_id, "test_acc")
    assert acc[-1][1] > 0.5 > acc[0][1]  # from chance to well above it on 500 images


def test_child_artifacts(trained):
    for cell, run in zip(trained.cells, trained.children(trained.result.parent_id)):
        names = {a.path for a in trained.client.list_artifacts(run.info.run_id)}
        assert names >= {"config.yaml", "learning_curve.png"}
        png = Path(trained.client.download_artifacts(run.info.run_id, "learning_curve.png", str(trained.root / "dl")))
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        config = Path(trained.client.download_artifacts(run.info.run_id, "config.yaml", str(trained.root / "dl")))
        assert f"config_hash: {cell.config_hash}" in config.read_text()


@pytest.mark.parametrize(
    "step_by_step, steps_per_call", [(True, None), (False, 20)], ids=["one iteration per call", "three chunks"]
)
def test_engine_schedule_does_not_change_the_numbers(trained, step_by_step, steps_per_call):
    """The stored run came from one 60-iteration graph call; the reference loop and a 3-chunk
    schedule must give exactly the same values (exact float equality, not just close)."""
    from study.engine.training_loop import train_and_evaluate

    cell = trained.cells[1]
    chunked = trained.children(trained.result.parent_id)[1]
    train = cell.settings.train.model_copy(update={"steps_per_call": steps_per_call})
    settings = cell.settings.model_copy(update={"train": train})
    recorder = Recorder()
    summary = train_and_evaluate(settings, cell.seed, cell_data(cell), [recorder], step_by_step=step_by_step)
    for key in CURVES:
        assert recorder.curves[key] == trained.history(chunked.info.run_id, key), key
    assert summary.final_test_acc == chunked.data.metrics["final_test_acc"]


def test_datasets_are_logged_as_training_and_evaluation_inputs(trained, mnist_dir):
    for cell, run in zip(trained.cells, trained.children(trained.result.parent_id)):
        inputs = {i.dataset.name: i for i in run.inputs.dataset_inputs}
        assert set(inputs) == {"mnist train[:500]", "mnist test[:200]"}
        contexts = {name: {t.key: t.value for t in i.tags}["mlflow.data.context"] for name, i in inputs.items()}
        assert contexts == {"mnist train[:500]": "training", "mnist test[:200]": "evaluation"}
        for name, rows in (("mnist train[:500]", 500), ("mnist test[:200]", 200)):
            dataset = inputs[name].dataset
            assert dataset.digest == cell_data(cell).digest and dataset.source_type == "local"
            assert json.loads(dataset.source)["uri"] == str(mnist_dir)
            assert json.loads(dataset.profile)["features_shape"] == [rows, 784]


def test_source_tags_are_the_drivers_on_every_run_and_the_parent_keeps_the_requirements(trained):
    from study.store.provenance import requirements_text
    from study.store.reader import read_text_artifact

    parent = trained.client.get_run(trained.result.parent_id)
    source = {k: v for k, v in parent.data.tags.items() if k.startswith(("mlflow.source.", "mlflow.user"))}
    assert source["mlflow.source.type"] == "LOCAL" and source["mlflow.user"] and source["mlflow.source.name"]
    for run in trained.children(trained.result.parent_id):
        assert source.items() <= run.data.tags.items()
    assert read_text_artifact(trained.client, parent.info.run_id, "requirements.txt") == requirements_text()
