"""`study rm` and study/store/delete.py on a real SQLite store holding two studies with artifacts: what
is deleted, what is never touched (the other study, the other parent), confirmation, purge."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from mlflow.entities import ViewType

from study import cli
from study.errors import StudyError
from tests.support.handbuilt import finish_parent, log_cell, start_parent


def log_study(client, root: Path, name: str, n_parents: int) -> list[dict]:
    """A study of `n_parents` parent runs, each with two cell runs holding a small artifact."""
    exp = client.create_experiment(name, artifact_location=(root / "artifacts" / name).as_uri())
    parents = []
    for _ in range(n_parents):
        parent = start_parent(client, exp, name, ["model.activation"])
        cells = [log_cell(client, exp, parent, {"activation": a}, 0, [0.1, 0.8], 0.01) for a in ("relu", "tanh")]
        for run_id in cells:
            client.log_text(run_id, "weights", "model.txt")
        finish_parent(client, parent, [{"name": c, "run_id": c, "status": "done"} for c in cells], root)
        parents.append({"parent": parent, "cells": cells})
    return parents


@pytest.fixture
def two_studies(tmp_path, blank_db, monkeypatch):
    """A fresh store with study `one` (two parent runs) and study `two` (one), MLFLOW_TRACKING_URI on it."""
    from mlflow import MlflowClient

    shutil.copy(blank_db, tmp_path / "mlflow.db")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    client = MlflowClient(uri)
    return {
        "client": client,
        "uri": uri,
        "root": tmp_path,
        "one": log_study(client, tmp_path, "one", 2),
        "two": log_study(client, tmp_path, "two", 1),
    }


def stages(client, name: str) -> dict[str, str]:
    """run id -> lifecycle stage of every run of a study (purged runs are absent)."""
    exp = client.get_experiment_by_name(name)
    return {
        r.info.run_id: r.info.lifecycle_stage
        for r in client.search_runs([exp.experiment_id], "", run_view_type=ViewType.ALL)
    }


def run_ids(parents: list[dict]) -> set[str]:
    return {i for p in parents for i in (p["parent"], *p["cells"])}


def test_rm_a_parent_soft_deletes_it_and_its_cells_only(two_studies, capsys):
    s = two_studies
    first, second = s["one"]
    assert cli.main(["rm", first["parent"], "--yes"]) == 0
    one = stages(s["client"], "one")
    assert {i for i, stage in one.items() if stage == "deleted"} == run_ids([first])
    assert {i for i, stage in one.items() if stage == "active"} == run_ids([second])
    assert set(stages(s["client"], "two").values()) == {"active"}
    out = capsys.readouterr().out
    assert out.startswith(f"deleted 3 run(s) of run {first['parent']} of study 'one'")
    assert (s["root"] / "artifacts" / "one" / first["cells"][0] / "artifacts" / "model.txt").is_file()  # soft: kept


def test_rm_a_study_deletes_all_its_runs_and_keeps_the_experiment(two_studies):
    s = two_studies
    assert cli.main(["rm", "one", "-y"]) == 0
    assert set(stages(s["client"], "one").values()) == {"deleted"} and len(stages(s["client"], "one")) == 6
    assert set(stages(s["client"], "two").values()) == {"active"}
    assert s["client"].get_experiment_by_name("one").lifecycle_stage == "active"  # `study run` can fill it again


def test_purge_removes_runs_and_artifacts_for_good_and_nothing_of_the_other_study(two_studies):
    s = two_studies
    first = s["one"][0]
    s["client"].delete_experiment(s["client"].get_experiment_by_name("two").experiment_id)  # `mlflow gc` would purge it
    assert cli.main(["rm", first["parent"], "--yes", "--purge"]) == 0
    assert set(stages(s["client"], "one")) == run_ids([s["one"][1]])
    for run_id in run_ids([first]):
        assert not (s["root"] / "artifacts" / "one" / run_id).exists()
    two = s["client"].get_experiment_by_name("two")
    assert two.lifecycle_stage == "deleted" and len(stages(s["client"], "two")) == 3
    assert (s["root"] / "artifacts" / "two" / s["two"][0]["cells"][0] / "artifacts" / "model.txt").is_file()


def test_purge_after_a_soft_delete_finds_the_deleted_runs(two_studies, capsys):
    s = two_studies
    first = s["one"][0]
    assert cli.main(["rm", first["parent"], "--yes"]) == 0
    assert cli.main(["rm", first["parent"], "--yes", "--purge"]) == 0
    assert set(stages(s["client"], "one")) == run_ids([s["one"][1]])
    assert cli.main(["rm", first["parent"], "--yes"]) == 2  # gone: now an unknown id
    assert "is neither a study nor a parent run id" in capsys.readouterr().err


@pytest.mark.parametrize("target", ["nope", "0123456789abcdef0123456789abcdef"])
def test_an_unknown_target_is_one_line_exit_2_and_nothing_changes(two_studies, capsys, target):
    s = two_studies
    before = {name: stages(s["client"], name) for name in ("one", "two")}
    assert cli.main(["rm", target, "--yes", "--purge"]) == 2
    err = capsys.readouterr().err
    assert err == f"error: {target!r} is neither a study nor a parent run id in the MLflow store; studies: one, two\n"
    assert {name: stages(s["client"], name) for name in ("one", "two")} == before


def test_a_cell_run_is_not_a_target(two_studies, capsys):
    s = two_studies
    cell = s["one"][0]["cells"][0]
    assert cli.main(["rm", cell, "--yes"]) == 2
    assert f"is a cell run, not a `study run`; give its parent run {s['one'][0]['parent']}" in capsys.readouterr().err
    assert set(stages(s["client"], "one").values()) == {"active"}


def test_without_a_terminal_and_without_yes_it_refuses(two_studies, capsys, monkeypatch):
    s = two_studies
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert cli.main(["rm", "one"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: rm: not asking for confirmation") and err.count("\n") == 1
    assert set(stages(s["client"], "one").values()) == {"active"}


@pytest.mark.parametrize("answer, code, stage", [("n", 1, "active"), ("", 1, "active"), ("y", 0, "deleted")])
def test_the_prompt_shows_the_plan_and_only_yes_deletes(two_studies, capsys, monkeypatch, answer, code, stage):
    s = two_studies
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)
    assert cli.main(["rm", "two"]) == code
    assert "delete 3 run(s) of study 'two': 1 parent, 2 cell" in capsys.readouterr().out
    assert set(stages(s["client"], "two").values()) == {stage}


def test_the_plan_names_other_parents_that_reuse_the_runs(two_studies):
    from study.store.delete import plan_deletion
    from study.store.lookup import find_target

    s = two_studies
    first, second = s["one"]
    reused = first["cells"][0]
    exp = s["client"].get_experiment_by_name("one")
    s["client"].log_text(second["parent"], f'[{{"name": "relu", "run_id": "{reused}"}}]', "cells.json")
    plan = plan_deletion(s["client"], find_target(s["client"], first["parent"]))
    assert plan.shared == {second["parent"]: 1}
    assert f"note: 1 of these cell runs are also listed by parent run {second['parent']}" in plan.text()
    assert exp.experiment_id == plan.target.experiment.experiment_id


def test_a_run_of_a_live_process_is_not_deleted(two_studies):
    import study
    from study.store.claims import process_tag

    s = two_studies
    exp = s["client"].get_experiment_by_name("two")
    live = s["client"].create_run(exp.experiment_id, tags={"study.role": "parent", "study.process": process_tag()})
    with pytest.raises(StudyError, match=f"run {live.info.run_id} .* is being trained by a live process"):
        study.rm("two", store=s["uri"])
    assert set(stages(s["client"], "two").values()) == {"active"}


def test_models_logged_by_the_runs_go_with_them(two_studies):
    import study
    from study.store.delete import _backend

    s = two_studies
    client, first = s["client"], s["one"][0]
    one, two = (client.get_experiment_by_name(n).experiment_id for n in ("one", "two"))
    model = client.create_logged_model(one, name="model", source_run_id=first["cells"][0])
    kept = client.create_logged_model(two, name="model", source_run_id=s["two"][0]["cells"][0])
    folder = Path(model.artifact_location.removeprefix("file://"))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model.keras").write_text("weights")
    plan = study.rm(first["parent"], store=s["uri"])
    assert plan.model_ids == [model.model_id] and plan.done
    assert _backend(client).get_logged_model(model.model_id, allow_deleted=True).model_id == model.model_id  # soft
    assert (folder / "model.keras").is_file()
    plan = study.rm(first["parent"], purge=True, store=s["uri"])
    assert plan.model_ids == [model.model_id]
    with pytest.raises(Exception, match="not found"):
        _backend(client).get_logged_model(model.model_id, allow_deleted=True)
    assert not (folder / "model.keras").exists()
    assert client.get_logged_model(kept.model_id).model_id == kept.model_id
