"""A study run read from a SQLite store without MLflow (study/store/direct_read.py) is the run MLflow's client
reads (study/store/reader.py), field by field; what it does not read is None, for MLflow's path to read or
refuse."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from study.store.direct_read import local_folder, read_directly
from study.store.lookup import resolve_target
from study.store.reader import CURVE_METRICS, DIAGNOSTIC_CURVES, StudyRuns, find_parent, load_study_runs
from tests.support.handbuilt import finish_parent, start_parent
from tests.support.student_store import build_student_store

CURVES = (*CURVE_METRICS, *DIAGNOSTIC_CURVES)


def through_mlflow(client, target: str, run: str | None = None) -> tuple[StudyRuns, bool]:
    chosen = resolve_target(client, target, run)
    runs = load_study_runs(client, chosen.experiment, chosen.parent, CURVES, own_curves=True)
    return runs, find_parent(client, chosen.experiment).info.run_id == chosen.parent.info.run_id


def assert_same(direct: StudyRuns, mlflow: StudyRuns) -> None:
    pd.testing.assert_frame_equal(direct.runs, mlflow.runs, check_exact=True)
    pd.testing.assert_frame_equal(direct.curves, mlflow.curves, check_exact=True)
    for name in ("study", "description", "parent", "axes", "fixed", "cells", "unrun", "datasets", "versions"):
        assert getattr(direct, name) == getattr(mlflow, name), name
    assert (direct.n_classes, direct.task) == (mlflow.n_classes, mlflow.task)


@pytest.fixture(scope="module")
def student(tmp_path_factory, blank_db) -> str:
    return build_student_store(tmp_path_factory.mktemp("student"), blank_db)


def test_a_studys_latest_run_read_directly_is_the_run_mlflow_reads(hand_store):
    direct = read_directly(hand_store["uri"], "toy", curve_metrics=CURVES, own_curves=True)
    assert direct is not None
    mlflow_runs, newest = through_mlflow(hand_store["client"], "toy")
    assert_same(direct.runs, mlflow_runs)
    assert direct.newest and newest
    assert len(direct.runs.curves) > 0 and direct.runs.unrun  # the manifest's cell that has no run


def test_a_parent_with_a_newer_one_is_read_as_not_the_newest(hand_store, tmp_path):
    from mlflow import MlflowClient

    db = tmp_path / "mlflow.db"  # a copy of the store, a third toy parent started after the second
    shutil.copy(hand_store["uri"].removeprefix("sqlite:///"), db)
    with sqlite3.connect(db) as con:  # the new run's artifacts in tmp_path, not in the shared store's folder
        con.execute("UPDATE experiments SET artifact_location = ? WHERE name = 'toy'", ((tmp_path / "toy").as_uri(),))
    client = MlflowClient(f"sqlite:///{db}")
    toy = client.get_experiment_by_name("toy").experiment_id
    (tmp_path / "download").mkdir()
    manifest_file = client.download_artifacts(hand_store["second"], "cells.json", str(tmp_path / "download"))
    manifest = json.loads(Path(manifest_file).read_text(encoding="utf-8"))
    third = start_parent(client, toy, "toy", ["model.activation", "model.initializer"])
    finish_parent(client, third, manifest, tmp_path)
    older = read_directly(f"sqlite:///{db}", hand_store["second"], curve_metrics=CURVES, own_curves=True)
    newer = read_directly(f"sqlite:///{db}", "toy", curve_metrics=CURVES, own_curves=True)
    assert older is not None and newer is not None
    assert not older.newest and newer.newest and newer.runs.parent.info.run_id == third
    runs, newest = through_mlflow(client, hand_store["second"])
    assert_same(older.runs, runs)
    assert not newest


def test_a_parent_without_a_manifest_is_left_to_mlflow(student):
    assert read_directly(student, "student") is None  # its cells are the runs nested under it


def test_a_parent_named_by_its_id_or_with_its_study_is_read_as_mlflow_reads_it(hand_store):
    client, uri = hand_store["client"], hand_store["uri"]
    second = hand_store["second"]
    by_id = read_directly(uri, second, curve_metrics=CURVES, own_curves=True)
    with_study = read_directly(uri, "toy", second, curve_metrics=CURVES, own_curves=True)
    assert by_id is not None and with_study is not None
    assert_same(by_id.runs, through_mlflow(client, second)[0])
    assert_same(with_study.runs, by_id.runs)
    assert by_id.json_artifact("cells.json") is not None and by_id.json_artifact("nothing.json") is None


@pytest.mark.parametrize(
    ("target", "run"),
    [
        ("nope", None),  # neither a study nor a run: MLflow's path says so
        ("empty", None),  # a study without runs
        ("broken", None),  # no finished cell
        ("toy", "0123456789abcdef"),  # no such parent in the study
        ("0123456789abcdef", None),
    ],
)
def test_what_it_does_not_read_is_left_to_mlflow(hand_store, target, run):
    assert read_directly(hand_store["uri"], target, run) is None


def test_a_store_that_is_not_a_sqlite_file_or_a_file_of_another_schema_is_left_to_mlflow(tmp_path):
    assert read_directly("http://127.0.0.1:9", "toy") is None
    assert read_directly(f"sqlite:///{tmp_path / 'none.db'}", "toy") is None
    other = tmp_path / "other.db"
    import sqlite3

    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE experiments (id INTEGER)")
    assert read_directly(f"sqlite:///{other}", "toy") is None


def test_only_local_artifact_folders_are_read(tmp_path):
    assert local_folder(tmp_path.as_uri()) == tmp_path
    assert local_folder(str(tmp_path)) == tmp_path
    assert local_folder("mlflow-artifacts:/1/abc/artifacts") is None
    assert local_folder("s3://bucket/1/abc/artifacts") is None
