"""A study of a `model.builder` (and a metric of its own) end to end: its code on the parent run (digest tag,
files), `study verify` re-runs a cell and its metric exactly, editing one line of the model module trains the
cells again, and `study reproduce` / `study verify` of the earlier runs say "model code differs"; study.run
takes the builder as a function object too."""

from __future__ import annotations

import json
import shutil
import sys

import mlflow
import pytest

import study
from study.execution.reproduce import reproduce_study
from study.execution.verify import verify_run
from study.store.contract import Artifact, Tag
from study.store.reader import read_text_artifact
from study.store.runs import Store
from tests.support.paths import REPO
from tests.support.runs import DATA_ENV, cli_run, prepare_store

STUDY = """\
study: own
base:
  data: {name: mnist, train_size: 100, test_size: 50}
  model: {builder: "nets/own_nets.py:residual_mlp", args: {width: 8}}
  optimizer: {name: adam, lr: 0.01}
  train: {iterations: 10, batch_size: 10, eval_every: 5, metrics: ["nets/own_scores.py:top2"]}
grid:
  model.args.depth: [1]
"""
SCORES = """\
import keras


def top2(y_true, y_pred):
    return keras.metrics.sparse_top_k_categorical_accuracy(y_true, y_pred, k=2)
"""


@pytest.fixture
def project(tmp_path, monkeypatch, mnist_dir, blank_db):
    """A project folder: the study, nets/own_nets.py (a copy of examples/models.py) and a blank store."""
    (tmp_path / "nets").mkdir()
    shutil.copy(REPO / "examples" / "models.py", tmp_path / "nets" / "own_nets.py")  # a name no other test imports
    (tmp_path / "nets" / "own_scores.py").write_text(SCORES, encoding="utf-8")
    (tmp_path / "own.yaml").write_text(STUDY, encoding="utf-8")
    prepare_store(tmp_path, blank_db)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    yield tmp_path
    sys.modules.pop("own_nets", None)
    sys.modules.pop("own_scores", None)


def cell_runs(client, parent: str) -> list:
    return client.search_runs(
        [client.get_run(parent).info.experiment_id], f"tags.`{Tag.PARENT_RUN}` = '{parent}'", order_by=["run_name"]
    )


def test_editing_the_model_trains_the_cells_again_and_reproduce_says_the_code_differs(project, capsys):
    assert cli_run(project / "own.yaml") == 0
    client = mlflow.MlflowClient(Store().uri)
    (first,) = [
        r.info.run_id
        for r in client.search_runs([client.get_experiment_by_name("own").experiment_id])
        if r.data.tags.get(Tag.ROLE) == "parent"
    ]
    recorded = json.loads(client.get_run(first).data.tags[Tag.CODE_DIGEST])
    assert list(recorded) == ["own_nets.py:residual_mlp", "own_scores.py:top2"]
    logged = read_text_artifact(client, first, f"{Artifact.CODE}/own_nets.py")
    assert logged == (project / "nets" / "own_nets.py").read_text()

    assert cli_run(project / "own.yaml") == 0  # the same code: nothing to train
    assert "nothing to train" in capsys.readouterr().err
    same = verify_run(cell_runs(client, first)[0].info.run_id, Store())
    assert same.identical and same.text.startswith("identical: ") and "train_top2, test_top2" in same.text

    models = project / "nets" / "own_nets.py"
    text = models.read_text().replace(
        'x = keras.layers.Activation("relu", name="act_out")(x)',
        'x = keras.layers.Dense(width)(x)\n    x = keras.layers.Activation("relu", name="act_out")(x)',
    )
    assert text != models.read_text()
    models.write_text(text)  # one line more: another structure, which a long-lived trainer must not take from its cache
    scores = project / "nets" / "own_scores.py"
    scores.write_text(scores.read_text().replace("k=2", "k=2,"))  # the metric's code too, not its numbers
    assert cli_run(project / "own.yaml") == 0
    err = capsys.readouterr().err
    assert "nothing to train" not in err and "skipping" not in err  # every cell trained again
    old_cell = cell_runs(client, first)[0].info.run_id

    verdict = verify_run(old_cell, Store())
    assert not verdict.identical
    assert verdict.text.startswith("differs: model code differs: own_nets.py:residual_mlp (digest ")
    assert "; own_scores.py:top2 (digest " in verdict.text

    reproduction = reproduce_study(first, Store(), progress=False)
    assert reproduction.code is not None and reproduction.code.startswith(
        "model code differs: own_nets.py:residual_mlp"
    )
    assert [c.new_run is not None for c in reproduction.cells] == [True]  # compared cell by cell
    assert {"train_top2", "test_top2"} <= set(reproduction.cells[0].max_abs_diff)  # its own metric's histories too
    assert not reproduction.identical
    assert reproduction.text().splitlines()[0] == reproduction.code


def test_study_run_takes_the_builder_as_a_function_object(project):
    import keras

    def tiny(args, input_shape, outputs):  # defined here, as in a notebook: no module file to import
        return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(outputs, activation="softmax")])

    text = STUDY.replace('  model: {builder: "nets/own_nets.py:residual_mlp", args: {width: 8}}\n', "")
    (project / "plain.yaml").write_text(text.replace("model.args.depth: [1]", "optimizer.lr: [0.01]"))
    with pytest.raises(study.errors.StudyError, match="builder: tiny is defined in this Python process"):
        study.run(project / "plain.yaml", builder=tiny, workers=2, progress=False)
    try:
        result = study.run(project / "plain.yaml", builder=tiny, progress=False)
    finally:
        study.spec.builder._functions.clear()
    assert result.ok and list(result.cells.status) == ["done"]
    run = mlflow.MlflowClient(Store().uri).get_run(result.cells.run_id[0])
    assert run.data.params["model.builder"].endswith(":tiny")
