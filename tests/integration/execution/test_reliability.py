"""Reliability: skip-done, isolated failures, concurrent writers, bad input, safety.

Claims of docs/reliability.md checked on real tiny MNIST subsets (STUDY_DATA_DIR) and a real MLflow
SQLite store, through `study run` in this process and in subprocesses. Resuming after kill -9 is in
tests/system/execution/test_reliability.py; determinism verified (`study verify`) is in
tests/integration/execution/test_verify.py.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.support.bad_input import LABELLED, N_TRAIN, assert_refused, good_study, write_idx
from tests.support.doubles import Explode
from tests.support.faults import CHILD_TIMEOUT_S, FAULT_STUDY, assert_whole, start_study
from tests.support.runs import SKIP_STUDY, Runs, SkipStore, cli_run, prepare_store, row_status

# --- skip what is done ------------------------------------------------------------------------

# The same cells written another way (axes swapped, values reversed) plus one new value: only tanh is new.
SKIP_STUDY_REORDERED = """\
study: skipdone
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd, lr: 0.1}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  optimizer.lr: [0.1]
  model.activation: [relu, tanh, sigmoid]
"""


def new_cell_runs(s: SkipStore, before: set[str]) -> list:
    return [r for r in s.runs.all() if r.info.run_id not in before]


# `study run --report` in a process of its own (this one caches artifact locations by run id, and the
# skip store is a copy): whether it imported TensorFlow, after its output.
RUN_REPORTED = """\
import sys
from study.cli import run_command
code = run_command(["run", "skip.yaml", "--quiet", "--report"])
print("tensorflow imported:", "tensorflow" in sys.modules)
sys.exit(code)
"""


def run_reported() -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-c", RUN_REPORTED], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done


def test_second_run_trains_nothing_opens_no_run_and_writes_the_report_once(in_skip_store):
    s = in_skip_store
    cells, parents = {r.info.run_id for r in s.runs.all()}, {r.info.run_id for r in s.runs.all("parent")}
    first = run_reported()  # nothing to train, no report yet: it is written
    assert (
        "nothing to train: all 2 cells are FINISHED in " in first.stderr and "--rerun trains them again" in first.stderr
    )
    parent = first.stderr.split("(parent run ")[1].split(")")[0]
    assert parent in parents and "skipping" not in first.stderr
    assert [row_status(line)[1] for line in first.stdout.splitlines()[1:3]] == ["skipped", "skipped"]
    report = s.root / first.stdout.split("report: ")[1].split()[0]
    assert report.is_file()
    written = report.stat().st_mtime_ns

    again = run_reported()
    assert "tensorflow imported: False" in again.stdout and f"(parent run {parent})" in again.stderr
    stored = Path(again.stdout.split("report: ")[1].split()[0])  # the copy the parent run holds
    assert stored.read_bytes() == report.read_bytes() and report.stat().st_mtime_ns == written  # not written again
    assert {r.info.run_id for r in s.runs.all()} == cells and {r.info.run_id for r in s.runs.all("parent")} == parents


def test_rerun_trains_every_cell_again(in_skip_store):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    assert cli_run(s.path, "--rerun") == 0
    new = new_cell_runs(s, before)
    assert sorted(r.data.tags["study.config_hash"] for r in new) == sorted(
        r.data.tags["study.config_hash"] for r in s.first
    )
    assert all(r.info.status == "FINISHED" for r in new)


def test_a_changed_setting_changes_the_hash_and_trains_again(in_skip_store):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    old_hashes = {r.data.tags["study.config_hash"] for r in s.first}
    assert cli_run(s.path, "--set", "train.batch_size=25") == 0
    new = new_cell_runs(s, before)
    assert len(new) == 2 and all(r.info.status == "FINISHED" for r in new)
    assert not {r.data.tags["study.config_hash"] for r in new} & old_hashes
    assert {r.data.params["train.batch_size"] for r in new} == {"25"}


def test_where_things_are_and_engine_knobs_are_not_identity(in_skip_store, mnist_dir):
    """`data.dir` (same files elsewhere) and `train.steps_per_call` do not change the numbers: no re-run."""
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    copy = shutil.copytree(mnist_dir, s.root / "mnist-copy")
    assert cli_run(s.path, "--set", "train.steps_per_call=20", "--set", f"data.dir={copy}") == 0
    assert new_cell_runs(s, before) == []


def test_reordered_grid_with_a_new_value_trains_only_the_new_cell(in_skip_store):
    s = in_skip_store
    before = {r.info.run_id for r in s.runs.all()}
    path = s.root / "reordered.yaml"
    path.write_text(SKIP_STUDY_REORDERED, encoding="utf-8")
    assert cli_run(path) == 0
    new = new_cell_runs(s, before)
    assert [r.data.params["model.activation"] for r in new] == ["tanh"]
    manifest = s.runs.manifest(s.runs.latest_parent().info.run_id)
    assert [(m["name"], m["status"]) for m in manifest] == [
        ("lr=0.1 · relu · seed 0", "skipped"),
        ("lr=0.1 · tanh · seed 0", "done"),
        ("lr=0.1 · sigmoid · seed 0", "skipped"),
    ]
    assert all(m["run_id"] for m in manifest)


# --- isolated failures -----------------------------------------------------------------------

DIVERGING = """\
study: diverge
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  model: {activation: relu, initializer: he}
  train: {iterations: 40, batch_size: 20, eval_every: 10}
grid:
  optimizer.lr: [1.0e+6, 0.1]
"""


def test_a_diverging_cell_fails_the_grid_goes_on_and_the_exit_code_is_1(project, write_study, capsys):
    assert cli_run(write_study(DIVERGING)) == 1
    out = capsys.readouterr().out
    rows = out.splitlines()
    assert row_status(rows[1]) == ("lr=1e+06 · seed 0", "failed")
    assert "↳" in rows[2] and "loss became" in rows[2] and "iteration" in rows[2]  # the reason, under the row
    assert row_status(rows[3]) == ("lr=0.1 · seed 0", "done")
    assert "2 cells × 1 seed = 2 runs, 1 failed" in out
    runs = Runs(project, "diverge")
    failed = [r for r in runs.all() if r.info.status == "FAILED"]
    assert len(failed) == 1 and runs.statuses() == {"FAILED": 1, "FINISHED": 1}
    tags = failed[0].data.tags
    assert "loss became" in tags["study.failure"] and 1 <= int(tags["study.failure_step"]) <= 40


def test_an_exception_in_one_cell_fails_only_that_cell(project, write_study, monkeypatch, capsys):
    import study.execution.cell

    train = study.execution.cell.Training.train

    def failing_for_sigmoid(self, cell, data, callbacks):  # mid-cell, in the driver's callbacks
        extra = [Explode()] if cell.settings.model.activation == "sigmoid" else []
        return train(self, cell, data, [*callbacks, *extra])

    monkeypatch.setattr(study.execution.cell.Training, "train", failing_for_sigmoid)
    assert cli_run(write_study(SKIP_STUDY.replace("skipdone", "broken"))) == 1
    out = capsys.readouterr().out
    assert "↳ RuntimeError: injected failure\n" in out
    runs = Runs(project, "broken")
    by_activation = {r.data.params["model.activation"]: r for r in runs.all()}
    failed, fine = by_activation["sigmoid"], by_activation["relu"]
    assert failed.info.status == "FAILED" and "study.failure_step" not in failed.data.tags
    assert failed.data.tags["study.failure"] == "RuntimeError: injected failure"
    assert runs.steps(failed.info.run_id, "train_loss") == list(range(1, 41))  # what it logged is kept
    assert {a.path for a in runs.client.list_artifacts(failed.info.run_id)} == {"config.yaml"}
    assert fine.info.status == "FINISHED"
    assert_whole(runs, fine, 40, 10)


def test_a_model_that_cannot_be_packaged_fails_only_its_cell_and_leaves_no_files(
    project, write_study, monkeypatch, capsys
):
    """Packaging the first cell's model breaks after writing its files: that cell ends FAILED saying so,
    with its metrics kept and no temporary files left; the next cell finishes with its model."""
    import study.store.models

    write_package, seen = study.store.models.write_package, []

    def breaks_once(saved, path):
        write_package(saved, path)
        seen.append((saved.path, path))
        if len(seen) == 1:
            raise RuntimeError("injected packaging failure")

    monkeypatch.setattr(study.store.models, "write_package", breaks_once)
    keep_all = "tracking: {keep_model: all}\n"  # every cell packages its model (keep_model: best parks them)
    assert cli_run(write_study(SKIP_STUDY.replace("skipdone", "unpackaged") + keep_all)) == 1
    assert "saving the model failed: RuntimeError: injected packaging failure" in capsys.readouterr().out
    runs = Runs(project, "unpackaged")
    by_activation = {r.data.params["model.activation"]: r for r in runs.all()}
    failed, fine = by_activation["sigmoid"], by_activation["relu"]
    assert failed.info.status == "FAILED"
    assert failed.data.tags["study.failure"] == "saving the model failed: RuntimeError: injected packaging failure"
    assert runs.steps(failed.info.run_id, "train_loss") == list(range(1, 41))
    assert "study.model" not in failed.data.tags
    assert fine.info.status == "FINISHED" and fine.data.tags["study.model"].startswith("models:/")
    for keras_file, package_dir in seen:
        assert not Path(keras_file).parent.exists() and not Path(package_dir).parent.exists()


def test_a_model_whose_upload_is_skipped_after_a_store_fault_leaves_no_files(
    project, write_study, monkeypatch, tmp_path
):
    """The first cell's learning curve fails to store ("disk is full"): the writer skips its model's upload,
    and the packaged model is still removed from the temporary folder (it used to stay there). A folder a
    process that has ended left there is removed when the run starts."""
    import study.execution.cell

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    (temp / f"study-keras-{int(ended.stdout)}-left").mkdir()  # a killed trainer's: removed at the start

    def disk_full(*args):
        raise RuntimeError("(sqlite3.OperationalError) database or disk is full")

    monkeypatch.setattr(study.execution.cell, "log_cell_files", disk_full)
    keep_all = "tracking: {keep_model: all}\n"  # every cell packages its model (keep_model: best parks them)
    assert cli_run(write_study(SKIP_STUDY.replace("skipdone", "fullstore") + keep_all)) != 0
    runs = Runs(project, "fullstore")
    first = next(r for r in runs.all() if r.data.params.get("model.activation") == "sigmoid")
    assert first.info.status == "FAILED" and "study.model" not in first.data.tags  # the upload was skipped
    assert sorted(p.name for p in temp.iterdir() if p.name.startswith("study-")) == []


# --- concurrent writers -------------------------------------------------------------------------


# Two cells for two processes: the one that loses the race for the first cell trains the second.
RACED_STUDY = FAULT_STUDY.replace("iterations: 300", "iterations: 30").replace("[he, xavier]", "[he]")
RACED_CELLS = 2


def test_two_processes_on_one_study_lose_nothing_and_duplicate_nothing(tmp_path, mnist_dir, blank_db):
    """Both processes reach the first cell at the same moment, and each waits 0.5 s between finding a
    cell free and starting it: without the per-cell claim both would train it (seen before the fix)."""
    root = tmp_path
    prepare_store(root, blank_db)
    study = root / "fault.yaml"
    study.write_text(RACED_STUDY, encoding="utf-8")
    procs = [start_study(root, study, mnist_dir, f"race:{root / 'barrier'}", tag=f"p{i}") for i in (0, 1)]
    codes = [p.wait(CHILD_TIMEOUT_S) for p in procs]
    errs = [(root / f"p{i}.err").read_text() for i in (0, 1)]
    assert codes == [0, 0], errs
    assert not any("locked" in e.lower() for e in errs), errs
    runs = Runs(root, "fault")
    by_hash = runs.finished_by_hash()
    assert len(by_hash) == RACED_CELLS and all(len(v) == 1 for v in by_hash.values()), "a cell FINISHED twice"
    assert runs.statuses() == {"FINISHED": RACED_CELLS}
    for (run,) in by_hash.values():
        assert_whole(runs, run, 30, 10)
    outs = [(root / f"p{i}.out").read_text() for i in (0, 1)]
    assert sum(o.count(" done ") for o in outs) == RACED_CELLS  # each cell trained by exactly one of them
    assert sum(o.count("being trained by another process") for o in outs) >= 1


# --- bad input: one line, exit 2, no store ------------------------------------------------------


def damage(name: str, fn):
    """A case step that rewrites one IDX file of the tiny dataset."""

    def apply(doc, root):
        path = Path(doc["base"]["data"]["dir"]) / name
        path.write_bytes(fn(path.read_bytes()))

    return apply


def setting(section: str, key: str, value):
    def apply(doc, root):
        doc["base"].setdefault(section, {})[key] = value

    return apply


def grid(value):
    def apply(doc, root):
        doc["grid"] = value

    return apply


def data_dir(value: str):
    def apply(doc, root):
        doc["base"]["data"]["dir"] = str(root / value)

    return apply


def unlink(name: str):
    def apply(doc, root):
        (Path(doc["base"]["data"]["dir"]) / name).unlink()

    return apply


def gzip_garbage(name: str):
    def apply(doc, root):
        folder = Path(doc["base"]["data"]["dir"])
        (folder / name).unlink()
        (folder / f"{name}.gz").write_bytes(b"\x1f\x8b\x08\x00 definitely not deflate data")

    return apply


TRAIN_IMAGES, TRAIN_LABELS = "train-images-idx3-ubyte", "train-labels-idx1-ubyte"
TEST_IMAGES, TEST_LABELS = "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"

# id -> (change to the good study, extra CLI args, text the one error line must hold)
BAD_INPUT = {
    "unknown key": (setting("model", "activaton", "relu"), (), "unknown key 'activaton'"),
    "wrong type": (setting("train", "iterations", "20"), (), "train.iterations"),
    "unknown activation": (
        grid({"model.activation": ["relu", "sigmoyd"]}),
        (),
        "'sigmoyd' is not valid (valid: sigmoid",
    ),
    "unknown initializer": (setting("model", "initializer", "glorot"), (), "'glorot' is not valid (valid: gauss"),
    "unknown optimizer": (setting("optimizer", "name", "adamq"), (), "'adamq' is not valid (valid: sgd"),
    "unknown dataset": (
        setting("data", "name", "svhn"),
        (),
        "name 'svhn' is not a dataset study knows (valid: mnist, fashion_mnist, cifar10, cifar100)",
    ),
    "empty grid": (grid({}), (), "the grid is empty"),
    "axis with no values": (grid({"model.activation": []}), (), "has no values"),
    "axis not a list": (grid({"model.activation": "relu"}), (), "grid.model.activation"),
    "duplicate cells": (
        grid({"net": [{"label": "a", "model.activation": "relu"}, {"label": "b", "model.activation": "relu"}]}),
        (),
        "resolve to the same settings",
    ),
    "zero iterations": (setting("train", "iterations", 0), (), "train.iterations: 0"),
    "negative batch": (setting("train", "batch_size", -5), (), "train.batch_size: -5"),
    "zero train_size": (setting("data", "train_size", 0), (), "data.train_size: 0"),
    "negative lr": (setting("optimizer", "lr", -0.1), (), "optimizer.lr: -0.1"),
    "dropout 1.5": (setting("model", "dropout", 1.5), (), "model.dropout: 1.5"),
    "momentum 1": (setting("optimizer", "momentum", 1.0), (), "optimizer.momentum: 1.0"),
    "batch > train_size": (lambda d, r: d["base"]["data"].update(train_size=5), (), "larger than data.train_size"),
    "batch > the dataset": (setting("train", "batch_size", N_TRAIN + 1), (), f"({N_TRAIN} samples)"),
    "eval_every > iterations": (
        setting("train", "eval_every", 50),
        (),
        "eval_every (50) is larger than train.iterations (20)",
    ),
    "missing data dir": (data_dir("nowhere"), (), "data directory does not exist"),
    "data dir lacks a file": (unlink(TEST_LABELS), (), f"{TEST_LABELS}: missing"),
    "truncated IDX": (damage(TRAIN_IMAGES, lambda b: b[:-100]), (), f"{TRAIN_IMAGES}: truncated"),
    "bad magic": (damage(TRAIN_LABELS, lambda b: struct.pack(">I", 0x803) + b[4:]), (), "bad magic number"),
    "extra bytes": (damage(TEST_IMAGES, lambda b: b + b"\0" * 7), (), f"{TEST_IMAGES}: too long"),
    "corrupted gzip": (gzip_garbage(TEST_IMAGES), (), "corrupted gzip"),
    "unknown --set key": (lambda d, r: None, ("--set", "train.iteratoins=5"), "unknown setting 'train.iteratoins'"),
    "--set bad value": (lambda d, r: None, ("--set", "optimizer.name=adamq"), "'adamq' is not valid"),
}


@pytest.mark.parametrize("case", BAD_INPUT, ids=BAD_INPUT)
def test_bad_input_is_refused_with_one_line_and_no_store(case, tmp_cwd, capsys):
    change, args, needle = BAD_INPUT[case]
    doc = good_study(write_idx(tmp_cwd / "idx"))
    change(doc, tmp_cwd)
    path = tmp_cwd / "bad.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")  # JSON is YAML
    code = cli_run(path, *args)
    out, err = capsys.readouterr()
    assert_refused(tmp_cwd, code, err, needle)
    assert out == "" and str(tmp_cwd) in err  # names the study file or the data file at fault


# --- safety: names ---------------------------------------------------------------------------


def test_hostile_label_gives_a_clean_run_name_and_fixed_artifact_paths(project, write_study):
    assert cli_run(write_study(LABELLED)) == 0
    runs = Runs(project, "labels")
    (run,) = runs.all()
    assert run.info.run_name == "lr/10 second line [31m red and more · seed 0"
    assert run.data.tags["axis.net"] == "lr/10 second line [31m red and more"
    assert {a.path for a in runs.client.list_artifacts(run.info.run_id)} == {"config.yaml", "learning_curve.png"}
    assert run.data.params["net"] == "lr/10 second line [31m red and more"
