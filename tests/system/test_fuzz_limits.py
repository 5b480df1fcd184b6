"""Property tests of the input limits, one per family of bad input: documents that expand (YAML aliases),
data files that lie about their size, names MLflow or a folder must hold, data that cannot teach, store
paths of every form, and SIGTERM at every stage of a run. Whatever is generated ends in exit 0, or exit 2
with one line and nothing written (exit 143 for SIGTERM, no run left RUNNING), in bounded memory.

The CI profile tries a bounded number of examples; STUDY_HYPOTHESIS_PROFILE=fuzz tries many more."""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import sqlite3
import struct
import tempfile
import tracemalloc
from collections.abc import Callable
from contextlib import closing
from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from study.spec.studyfile import MAX_YAML_VALUES
from tests.support.faults import CHILD_TIMEOUT_S, FAULT_STUDY, start_study
from tests.support.fuzzing import assert_clean_outcome, assert_nothing_written, study_cli

MiB = 1 << 20
MAX_BODY = 24 * MiB  # the longest IDX body an example writes
TINY = {"model": {"hidden": [4]}, "train": {"iterations": 20, "batch_size": 2, "eval_every": 10}}


@pytest.fixture(scope="module", autouse=True)
def fixed_machine_rate():
    """The dry run's estimate divides by a fixed rate: measuring the machine's matrix-multiply rate (twice per
    dry run, seconds each on a loaded machine) was most of an example's time and is not what these tests try."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("study.runtime.rate.machine_rate", lambda folder=None, remeasure=False: 1e11)
        yield


def peak_bytes(fn: Callable[[], tuple[int, str, str]]) -> tuple[tuple[int, str, str], int]:
    """`fn()` and the most memory Python and NumPy held meanwhile (tracemalloc's peak)."""
    tracemalloc.start()
    try:
        return fn(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def write_study(folder: Path, data: dict, name: str = "limits", axis: str = "model.activation") -> Path:
    path = folder / "study.yaml"
    doc = {"study": name, "base": {"data": data, **TINY}, "grid": {axis: ["relu", "tanh"]}}
    if axis != "model.activation":
        doc["grid"] = {axis: [{"label": "a", "model.activation": "relu"}, {"label": "b", "model.activation": "tanh"}]}
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def dry_run(folder: Path, study: Path) -> tuple[int, str, str]:
    return study_cli(["run", str(study), "--dry-run"], folder)


# --- documents that expand -------------------------------------------------------------------------


def alias_document(depth: int, fan: int) -> tuple[str, int]:
    """A study file whose `bomb` key nests `depth` levels of `fan` aliases each; and its values, expanded."""
    lines = ["study: limits", "bomb:", f"  a0: &a0 [{', '.join(['x'] * fan)}]"]
    lines += [f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * fan)}]" for i in range(1, depth)]
    return "\n".join(lines) + "\n", sum(fan ** (i + 1) for i in range(depth))


@given(depth=st.integers(1, 40), fan=st.integers(1, 12))
def test_aliases_are_refused_past_the_limit_in_bounded_memory(depth, fan):
    text, expanded = alias_document(depth, fan)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "study.yaml").write_text(text)
        (rc, _, err), peak = peak_bytes(lambda: dry_run(folder, folder / "study.yaml"))
        assert_clean_outcome(rc, err)
        assert rc == 2  # past the limit, or an unknown key `bomb`
        if expanded > 2 * MAX_YAML_VALUES or expanded < MAX_YAML_VALUES // 2:  # keys and the rest count too
            assert ("aliases are expanded" in err) == (expanded > MAX_YAML_VALUES), (expanded, err)
        assert peak < 64 * MiB, peak
        assert_nothing_written(folder)


# --- data files that lie about their size ----------------------------------------------------------


def idx(magic: int, dims: tuple[int, ...], body: bytes) -> bytes:
    return struct.pack(f">I{len(dims)}I", magic, *dims) + body


def mnist_folder(
    folder: Path, victim: int, dims: tuple[int, ...] | None, body_len: int | None, zeros: bool, gz: bool
) -> tuple[int, int]:
    """Four small valid IDX files (60 train, 20 test images), one of them (`victim`) given a header of `dims`
    and `body_len` bytes of body (None: its true ones, up to MAX_BODY); returns the most bytes any header
    declares and the victim's body length."""
    rng = np.random.default_rng(0)
    files = [
        ("train-images-idx3-ubyte", 0x803, (60, 28, 28)),
        ("train-labels-idx1-ubyte", 0x801, (60,)),
        ("t10k-images-idx3-ubyte", 0x803, (20, 28, 28)),
        ("t10k-labels-idx1-ubyte", 0x801, (20,)),
    ]
    declared = written = 0
    for k, (name, magic, shape) in enumerate(files):
        size = int(np.prod(shape))
        body = rng.integers(0, 10 if magic == 0x801 else 256, size, dtype=np.uint8).tobytes()
        if k == victim:
            shape = shape if dims is None else dims[: len(shape)]
            true_len = int(np.prod(shape, dtype=np.int64))
            # a header may declare terabytes: its true body is written only as far as a lying one could be
            written = min(true_len, MAX_BODY) if body_len is None else body_len
            body = bytes(written) if zeros else (body * (written // size + 1))[:written]
        declared = max(declared, int(np.prod(shape, dtype=np.int64)))
        content = idx(magic, shape, body)
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb", compresslevel=1) as out:
                out.write(content)
        else:
            (folder / name).write_bytes(content)
    return declared, written


@given(
    victim=st.integers(0, 3),
    dims=st.none() | st.tuples(st.integers(0, 2**31), st.integers(0, 64), st.integers(0, 64)),
    body_len=st.none() | st.integers(0, MAX_BODY),
    zeros=st.booleans(),
    gz=st.booleans(),
)
@example(victim=0, dims=(2**31, 64, 64), body_len=None, zeros=False, gz=True)  # terabytes declared, MAX_BODY held
def test_idx_files_are_read_no_further_than_their_headers_declare(victim, dims, body_len, zeros, gz):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "data").mkdir()
        declared, written = mnist_folder(folder / "data", victim, dims, body_len, zeros, gz)
        study = write_study(folder, {"name": "mnist", "dir": str(folder / "data")})
        (rc, _, err), peak = peak_bytes(lambda: dry_run(folder, study))
        assert_clean_outcome(rc, err)
        assert peak < 3 * min(declared, written) + 32 * MiB, (peak, declared, written)
        if rc == 2:
            assert_nothing_written(folder)


# --- names MLflow and a folder must hold ---------------------------------------------------------------


names = st.one_of(
    st.text(min_size=0, max_size=120),
    st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=100),
    st.from_regex(r"[^\W_][\w.-]{0,110}", fullmatch=True),
)


@given(name=names, axis=st.one_of(st.just("model.activation"), st.text(min_size=1, max_size=210)))
def test_names_accepted_are_ones_mlflow_and_the_filesystem_hold_as_themselves(name, axis, blank_db):
    from mlflow.tracking import MlflowClient

    from study.store.reader import find_experiment
    from study.store.runs import Store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        study = write_study(folder, {"name": "mnist"}, name=name, axis=axis)
        rc, _, err = dry_run(folder, study)
        assert_clean_outcome(rc, err)
        if rc == 2:
            assert_nothing_written(folder)
            return
        assert name == name.strip() and name.isprintable()
        (folder / "mlruns").mkdir()
        shutil.copy(blank_db, folder / "mlruns" / "mlflow.db")
        store = Store(f"sqlite:///{folder / 'mlruns' / 'mlflow.db'}")
        exp_id = store.experiment_id(name)
        run = store.client.create_run(exp_id, tags={f"axis.{axis}": "a"} if axis != "model.activation" else {})
        store.client.log_param(run.info.run_id, axis, "a")
        assert find_experiment(MlflowClient(store.uri), name).experiment_id == exp_id
        report = folder / "reports" / name / "index.html"
        report.parent.mkdir(parents=True)
        report.write_text("ok")


@given(name=st.text(st.characters(categories=["L", "Nd"]), min_size=1, max_size=100))
def test_names_of_letters_and_digits_of_any_script_are_accepted(name):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rc, _, err = dry_run(folder, write_study(folder, {"name": "mnist"}, name=name))
        assert rc == 0, err


# --- data that cannot teach ---------------------------------------------------------------------------


@given(
    train=st.lists(st.integers(0, 4), min_size=4, max_size=40),
    test=st.lists(st.integers(0, 4), min_size=1, max_size=20),
)
def test_labels_that_cannot_teach_a_classifier_are_refused(train, test):
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        x = rng.normal(size=(len(train) + len(test), 3)).astype("float32")
        np.savez(folder / "d.npz", x_train=x[: len(train)], y_train=train, x_test=x[len(train) :], y_test=test)
        rc, _, err = dry_run(folder, write_study(folder, {"path": "d.npz", "format": "npz"}))
        assert_clean_outcome(rc, err)
        teachable = len(set(train)) >= 2 and set(test) <= set(train)
        assert (rc == 0) == teachable, err
        if rc == 2:
            assert_nothing_written(folder)


# --- store paths of every form ------------------------------------------------------------------------


def make_store_path(folder: Path, form: str, payload: bytes) -> None:
    """`mlruns` (and its database) in one of the forms a user's folder can hold."""
    store, db = folder / "mlruns", folder / "mlruns" / "mlflow.db"
    if form == "file":
        store.write_bytes(payload)
    elif form == "fifo":
        os.mkfifo(store)
    elif form == "dangling link":
        store.symlink_to(folder / "nowhere")
    elif form == "link to a file":
        (folder / "target").write_bytes(payload)
        store.symlink_to(folder / "target")
    elif form == "db is a folder":
        db.mkdir(parents=True)
    elif form == "db is garbage":
        store.mkdir()
        db.write_bytes(payload)
    elif form == "db is an empty sqlite file":
        store.mkdir()
        sqlite3.connect(db).close()
    elif form == "read-only folder":
        store.mkdir()
        store.chmod(0o500)


STORE_FORMS = [
    "file",
    "fifo",
    "dangling link",
    "link to a file",
    "db is a folder",
    "db is garbage",
    "db is an empty sqlite file",
    "read-only folder",
]


def snapshot_tree(folder: Path) -> dict[str, bytes | None]:
    """Every entry under `folder` (links not followed) and a regular file's bytes."""
    return {
        str(p.relative_to(folder)): (p.read_bytes() if p.is_file() and not p.is_symlink() else None)
        for p in folder.rglob("*")
    }


@given(form=st.sampled_from(STORE_FORMS), payload=st.binary(max_size=64), command=st.sampled_from(["list", "report"]))
def test_a_store_path_of_any_form_gives_a_result_or_one_line(form, payload, command):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        make_store_path(folder, form, payload)
        before = snapshot_tree(folder)
        try:
            rc, _, err = study_cli([command] if command == "list" else [command, "limits"], folder)
        finally:
            if (folder / "mlruns").is_dir() and not (folder / "mlruns").is_symlink():
                (folder / "mlruns").chmod(0o700)
        assert_clean_outcome(rc, err)
        assert rc == 2 or command == "list", err
        assert snapshot_tree(folder) == before  # reading writes nothing, whatever the path held


# --- SIGTERM at every stage of a run --------------------------------------------------------------------


@pytest.mark.parametrize("point", ["before-cells", "claimed"])
def test_sigterm_at_any_stage_leaves_no_run_running(point, tmp_path, mnist_dir, blank_db):
    """The `study` process SIGTERMs itself at each named stage (the fault points); other stages: the
    test of SIGTERM mid-cell and while a cell is being closed (tests/system/execution/test_reliability.py)."""
    (tmp_path / "mlruns").mkdir()
    shutil.copy(blank_db, tmp_path / "mlruns" / "mlflow.db")
    study = tmp_path / "fault.yaml"
    study.write_text(FAULT_STUDY, encoding="utf-8")
    proc = start_study(tmp_path, study, mnist_dir, f"{point}=term", tag="term")
    assert proc.wait(CHILD_TIMEOUT_S) == 128 + signal.SIGTERM, (tmp_path / "term.err").read_text()[-2000:]
    with closing(sqlite3.connect(tmp_path / "mlruns" / "mlflow.db")) as con:
        statuses = {s for (s,) in con.execute("select status from runs")}
    assert statuses and "RUNNING" not in statuses, statuses
