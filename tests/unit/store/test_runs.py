"""The MLflow store as the run path sees it (study/store/runs.py), on real SQLite stores in tmp: the
study's experiment, parent and cell runs with the contract's tags and params, finding finished and
taken cells, marking the runs of dead processes, metrics in batches, clipped tags."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from mlflow.entities import Metric, Param
from mlflow.utils.validation import MAX_METRICS_PER_BATCH, MAX_PARAM_VAL_LENGTH, MAX_TAG_VAL_LENGTH

from study.check.validated_study import study_from_dict
from study.plan.grid import expand, flatten_settings
from study.store.claims import process_tag
from study.store.contract import Tag, param_text
from study.store.provenance import common_tags
from study.store.runs import Store, clip

STUDY = {
    "study": "toy",
    "base": {"model": {"hidden": [8, 4]}, "train": {"iterations": 20, "batch_size": 10, "eval_every": 10}},
    "grid": {
        "model.activation": ["relu", "sigmoid"],
        "net": [{"label": "small lr", "optimizer.lr": 0.01}, {"label": "large lr", "optimizer.lr": 0.5}],
    },
    "seeds": [3],
}


@pytest.fixture(scope="module")
def cells():
    return expand(study_from_dict(STUDY, "toy.yaml"))


def dead_tag() -> str:
    """The process tag of a pid no process can have."""
    return f"{socket.gethostname()}:{int(Path('/proc/sys/kernel/pid_max').read_text()) + 1}:1"


def start_cell(store: Store, exp_id: str, parent: str, cell, digest: str = "d1", process: str | None = None) -> str:
    """A cell run of `cell` on dataset `digest`, optionally tagged as written by another process."""
    extra = {Tag.PROCESS: process} if process else None
    return store.start_cell(exp_id, parent, "toy", cell, list(STUDY["grid"]), "mnist", digest, 10, extra)


# --- text for MLflow --------------------------------------------------------------------------------


def test_clip_keeps_the_head_within_the_limit():
    assert clip("short", 10) == "short"
    assert clip("x" * 10, 10) == "x" * 10
    assert clip("abcdefghijkl", 10) == "abcdefghi…" and len(clip("abcdefghijkl", 10)) == 10


@pytest.mark.parametrize(
    "value, text",
    [
        (0.1, "0.1"),
        (60, "60"),
        (True, "True"),
        ("relu", "relu"),
        (None, "None"),
        ([40, 20], "[40,20]"),
        ({"type": "dense", "units": 10}, '{"type":"dense","units":10}'),
        ([], "[]"),
    ],
)
def test_param_text_is_plain_for_scalars_and_compact_json_otherwise(value, text):
    assert param_text(value) == text


# --- experiments ----------------------------------------------------------------------------------


def test_store_opens_the_default_store_of_the_directory(blank_store, tmp_cwd):
    assert blank_store.uri == f"sqlite:///{tmp_cwd / 'mlruns' / 'mlflow.db'}"
    assert blank_store.client.tracking_uri == blank_store.uri


def test_experiment_is_created_once_with_its_description(blank_store, tmp_cwd):
    exp_id = blank_store.experiment_id("toy", "Two activations.")
    assert blank_store.experiment_id("toy") == exp_id == blank_store.experiment_id("toy", "Two activations.")
    exp = blank_store.client.get_experiment(exp_id)
    assert exp.name == "toy" and exp.tags[Tag.NOTE] == "Two activations."
    assert exp.artifact_location == (tmp_cwd / "mlruns" / "artifacts" / "toy").as_uri()
    blank_store.experiment_id("toy", "Now three.")
    assert blank_store.client.get_experiment(exp_id).tags[Tag.NOTE] == "Now three."
    assert blank_store.experiment_id("other") != exp_id


# --- parent and cell runs ---------------------------------------------------------------------------


def test_parent_run_carries_the_contract_tags(blank_store):
    exp_id = blank_store.experiment_id("toy")
    parent = blank_store.start_parent(exp_id, "toy", {Tag.CONFIG_FILE: "toy.yaml"})
    run = blank_store.client.get_run(parent)
    tags = run.data.tags
    assert run.info.status == "RUNNING" and run.info.run_name.startswith("toy 20")
    assert tags[Tag.ROLE] == "parent" and tags[Tag.NAME] == "toy" and tags[Tag.CONFIG_FILE] == "toy.yaml"
    assert tags[Tag.PROCESS] == process_tag()
    assert common_tags().items() <= tags.items()
    blank_store.end(parent)
    assert blank_store.client.get_run(parent).info.status == "FINISHED"


def test_cell_run_carries_tags_and_params(blank_store, cells):
    exp_id = blank_store.experiment_id("toy")
    parent = blank_store.start_parent(exp_id, "toy", {})
    cell = cells[1]  # relu · large lr · seed 3
    run_id = blank_store.start_cell(
        exp_id, parent, "toy", cell, list(STUDY["grid"]), "mnist", "d1", 10, {"study.numerics": "exact"}
    )
    assert blank_store.client.get_run(run_id).data.params == {}  # sent apart, by the writer, while the cell trains
    blank_store.log_cell_params(run_id, cell, list(STUDY["grid"]))
    run = blank_store.client.get_run(run_id)
    tags, params = run.data.tags, run.data.params
    assert run.info.run_name == cell.name == "relu · large lr · seed 3"
    assert tags[Tag.PARENT_RUN] == parent and tags[Tag.ROLE] == "cell" and tags[Tag.NAME] == "toy"
    assert tags[Tag.CELL] == cell.group and tags[Tag.CONFIG_HASH] == cell.config_hash and tags[Tag.SEED] == "3"
    assert json.loads(tags[Tag.AXES]) == ["model.activation", "net"]
    assert (tags[Tag.DATASET], tags[Tag.DATASET_DIGEST], tags[Tag.N_CLASSES]) == ("mnist", "d1", "10")
    assert tags[Tag.PROCESS] == process_tag() and tags["study.numerics"] == "exact"
    assert tags[Tag.AXIS + "activation"] == "relu" and tags[Tag.AXIS + "net"] == "large lr"
    assert common_tags().items() <= tags.items()
    flat = {k: param_text(v) for k, v in flatten_settings(cell.settings).items()}
    assert flat.items() <= params.items() and params["optimizer.lr"] == "0.5"
    assert params["activation"] == "relu" and params["net"] == "large lr"  # a bundle axis by its label
    assert params["seed"] == "3"
    assert set(params) == set(flat) | {"activation", "net", "seed"}


def test_metrics_go_in_batches_of_mlflows_maximum(blank_store):
    exp_id = blank_store.experiment_id("toy")
    run_id = blank_store.start_parent(exp_id, "toy", {})
    n = MAX_METRICS_PER_BATCH + 250
    blank_store.log_metrics(run_id, [Metric("train_loss", 1.0 / step, 0, step) for step in range(1, n + 1)])
    history = blank_store.client.get_metric_history(run_id, "train_loss")
    assert sorted(m.step for m in history) == list(range(1, n + 1))


def test_tags_are_text_clipped_to_mlflows_limit(blank_store):
    exp_id = blank_store.experiment_id("toy")
    run_id = blank_store.start_parent(exp_id, "toy", {})
    blank_store.set_tags(run_id, {"study.failure": "x" * (MAX_TAG_VAL_LENGTH + 50), "study.failure_step": 17})
    tags = blank_store.client.get_run(run_id).data.tags
    assert tags["study.failure"] == "x" * (MAX_TAG_VAL_LENGTH - 1) + "…"
    assert tags["study.failure_step"] == "17"


def test_long_params_are_clipped_to_mlflows_limit(blank_store):
    wide = {**STUDY, "base": {**STUDY["base"], "model": {"hidden": [1] * 3000}}, "grid": {"model.activation": ["relu"]}}
    (cell,) = expand(study_from_dict(wide, "wide.yaml"))
    exp_id = blank_store.experiment_id("toy")
    run_id = blank_store.start_cell(
        exp_id, blank_store.start_parent(exp_id, "toy", {}), "toy", cell, ["model.activation"], "mnist", "d1", 10
    )
    blank_store.log_cell_params(run_id, cell, ["model.activation"])
    hidden = blank_store.client.get_run(run_id).data.params["model.hidden"]
    assert len(param_text([1] * 3000)) > MAX_PARAM_VAL_LENGTH
    assert hidden == param_text([1] * 3000)[: MAX_PARAM_VAL_LENGTH - 1] + "…"


def test_text_artifacts_and_the_end_status(blank_store):
    exp_id = blank_store.experiment_id("toy")
    run_id = blank_store.start_parent(exp_id, "toy", {})
    blank_store.log_text(run_id, "study: toy\n", "study.yaml")
    assert [a.path for a in blank_store.client.list_artifacts(run_id)] == ["study.yaml"]
    blank_store.end(run_id, "FAILED")
    assert blank_store.client.get_run(run_id).info.status == "FAILED"


# --- finding what is done or taken ------------------------------------------------------------------


def test_runs_filters_an_experiment(blank_store, cells):
    exp_id = blank_store.experiment_id("toy")
    parent = blank_store.start_parent(exp_id, "toy", {})
    ids = {start_cell(blank_store, exp_id, parent, cell) for cell in cells}
    assert {r.info.run_id for r in blank_store.runs(exp_id, "tags.`study.role` = 'cell'")} == ids
    assert [r.info.run_id for r in blank_store.runs(exp_id, "tags.`study.role` = 'parent'")] == [parent]
    relu = blank_store.runs(exp_id, "tags.`axis.activation` = 'relu'")
    assert sorted(r.info.run_name for r in relu) == ["relu · large lr · seed 3", "relu · small lr · seed 3"]


def test_finished_cells_are_the_latest_finished_run_per_hash_on_the_dataset(blank_store, cells):
    exp_id = blank_store.experiment_id("toy")
    parent = blank_store.start_parent(exp_id, "toy", {})
    first, second, third, fourth = cells
    old = start_cell(blank_store, exp_id, parent, first)
    blank_store.end(old)
    new = start_cell(blank_store, exp_id, parent, first)
    blank_store.end(new)
    blank_store.end(start_cell(blank_store, exp_id, parent, second, digest="d2"))  # another dataset
    start_cell(blank_store, exp_id, parent, third)  # still RUNNING
    blank_store.end(start_cell(blank_store, exp_id, parent, fourth), "FAILED")
    found = blank_store.finished_cells(exp_id, "d1")
    assert {h: r.info.run_id for h, r in found.items()} == {first.config_hash: new}
    either = blank_store.finished_cells(exp_id, "d1,d2")  # a dataset known by two digests
    assert set(either) == {first.config_hash, second.config_hash}


def test_taken_names_a_finished_run_or_a_live_running_one(blank_store, cells):
    exp_id = blank_store.experiment_id("toy")
    parent = blank_store.start_parent(exp_id, "toy", {})
    done, live, dead, free = cells
    done_id = start_cell(blank_store, exp_id, parent, done)
    blank_store.end(done_id)
    live_id = start_cell(blank_store, exp_id, parent, live)  # RUNNING, written by this (live) process
    start_cell(blank_store, exp_id, parent, dead, process=dead_tag())  # RUNNING, its process gone
    assert blank_store.taken(exp_id, done.config_hash, "d1") == f"finished meanwhile as run {done_id}"
    assert blank_store.taken(exp_id, done.config_hash, "d1", finished=False) is None  # --rerun: redo it
    assert blank_store.taken(exp_id, done.config_hash, "d2") is None  # another dataset
    expected = f"being trained by another process (run {live_id})"
    assert blank_store.taken(exp_id, live.config_hash, "d1") == expected
    assert blank_store.taken(exp_id, live.config_hash, "d1", finished=False) == expected
    assert blank_store.taken(exp_id, dead.config_hash, "d1") is None
    assert blank_store.taken(exp_id, free.config_hash, "d1") is None


def test_runs_of_dead_processes_are_marked_killed(blank_store, cells):
    exp_id = blank_store.experiment_id("toy")
    parent = blank_store.start_parent(exp_id, "toy", {})
    dead_id = start_cell(blank_store, exp_id, parent, cells[0], process=dead_tag())
    live_id = start_cell(blank_store, exp_id, parent, cells[1])
    foreign_id = start_cell(blank_store, exp_id, parent, cells[2], process="other-host.invalid:1:1")
    assert blank_store.mark_dead_runs(exp_id) == [dead_id]
    dead = blank_store.client.get_run(dead_id)
    assert dead.info.status == "KILLED"
    assert dead.data.tags[Tag.FAILURE] == f"the process that ran it ({dead_tag()}) ended without closing the run"
    for run_id in (live_id, foreign_id, parent):  # alive, or on a host this process cannot see
        assert blank_store.client.get_run(run_id).info.status == "RUNNING"
    assert blank_store.mark_dead_runs(exp_id) == []


def test_the_claim_lock_lives_beside_the_store(blank_store, tmp_cwd):
    exp_id = blank_store.experiment_id("toy")
    claim = blank_store.claim(exp_id, "abc", "d1")
    assert claim is not None and claim.lock is not None
    assert os.listdir(tmp_cwd / "mlruns" / "claims") == [f"{exp_id}-abc-d1.lock"]
    claim.release()


def test_one_batch_carries_metrics_params_and_tags_within_mlflows_limits(blank_store, monkeypatch):
    exp_id = blank_store.experiment_id("toy")
    run_id = blank_store.start_parent(exp_id, "toy", {})
    calls = []
    log_batch = blank_store.client.log_batch
    monkeypatch.setattr(blank_store.client, "log_batch", lambda *a, **k: calls.append(k) or log_batch(*a, **k))
    blank_store.log_batch(run_id, [Metric("train_loss", 0.5, 0, 1)], [Param("a", "1")], {"study.x": "y"})
    assert len(calls) == 1  # a small cell's metrics, params and tags: one transaction
    params = [Param(f"p{i}", str(i)) for i in range(150)]
    metrics = [Metric("train_loss", 1.0 / step, 0, step) for step in range(1, 1901)]
    blank_store.log_batch(run_id, metrics, params, {f"t{i}": str(i) for i in range(120)})
    sizes = [(len(k["metrics"]), len(k["params"]), len(k["tags"])) for k in calls[1:]]
    assert sizes == [(800, 100, 100), (930, 50, 20), (170, 0, 0)]  # ≤ 1,000 entities, ≤ 100 params and tags each
    run = blank_store.client.get_run(run_id)
    assert len(run.data.params) == 151 and run.data.tags["t119"] == "119"
    assert len(blank_store.client.get_metric_history(run_id, "train_loss")) == 1901
