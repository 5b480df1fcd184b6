"""A cell's data as MLflow dataset inputs (study/store/inputs.py), on tiny hand-made datasets."""

from __future__ import annotations

import json

import numpy as np

from study.data.dataset import Dataset
from study.store.inputs import dataset_inputs, log_dataset_inputs


def tiny(source: str) -> Dataset:
    x = np.zeros((6, 784), np.float32)
    y = np.arange(6, dtype=np.int32) % 10
    return Dataset("fashion_mnist", x, y, x[:4], y[:4], "0123456789abcdef", source)


def test_keras_loaded_data_is_a_code_source_named_after_the_loader():
    train, test = dataset_inputs(tiny("keras.datasets"))
    assert (train.dataset.name, test.dataset.name) == ("fashion_mnist train[:6]", "fashion_mnist test[:4]")
    assert train.dataset.source_type == "code"
    assert json.loads(train.dataset.source)["tags"] == {"mlflow.source.name": "keras.datasets.fashion_mnist"}
    assert [(t.key, t.value) for t in test.tags] == [("mlflow.data.context", "evaluation")]


def test_inputs_land_on_the_run(blank_store, tmp_path):
    exp = blank_store.experiment_id("inputs")
    run_id = blank_store.client.create_run(exp).info.run_id
    log_dataset_inputs(blank_store.client, run_id, tiny(str(tmp_path)))
    got = blank_store.client.get_run(run_id).inputs.dataset_inputs
    assert sorted((i.dataset.name, i.dataset.digest, i.tags[0].value) for i in got) == [
        ("fashion_mnist test[:4]", "0123456789abcdef", "evaluation"),
        ("fashion_mnist train[:6]", "0123456789abcdef", "training"),
    ]
    assert json.loads(got[0].dataset.source) == {"uri": str(tmp_path)}


def test_a_validation_hold_out_is_a_third_input_and_a_file_a_local_source(tmp_path):
    from dataclasses import replace

    table = tmp_path / "t.csv"
    table.write_text("a,label\n1,0\n")
    data = replace(tiny(str(table)), name="t", x_val=np.zeros((2, 784), np.float32), y_val=np.zeros(2, np.int32))
    got = dataset_inputs(data)
    assert [(i.dataset.name, i.tags[0].value) for i in got] == [
        ("t train[:6]", "training"),
        ("t test[:4]", "evaluation"),
        ("t validation[:2]", "validation"),
    ]
    assert json.loads(got[2].dataset.source) == {"uri": str(table)}


def test_a_description_without_arrays_gives_the_same_inputs(tmp_path):
    """The driver of a training process has only the dataset's description (the arrays stay in the
    trainer): MLflow gets the same inputs, profile and schema included, for classes and real targets."""
    from dataclasses import replace

    classes = tiny(str(tmp_path))
    held_out = replace(classes, x_val=classes.x_train[:2], y_val=classes.y_train[:2])
    real = replace(
        classes,
        targets="real",
        num_classes=0,
        y_train=np.zeros((6, 3), np.float32),
        y_test=np.zeros((4, 3), np.float32),
    )
    for data in (classes, held_out, real):
        entities = [(i.dataset.to_dictionary(), [(t.key, t.value) for t in i.tags]) for i in dataset_inputs(data)]
        described = [(i.dataset.to_dictionary(), [(t.key, t.value) for t in i.tags]) for i in dataset_inputs(data.info)]
        assert described == entities
        assert json.loads(entities[0][0]["profile"])["features_shape"] == [6, 784]  # the shapes are there
