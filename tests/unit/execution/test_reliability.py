"""Reliability, the refusals that train nothing: a study file that cannot be read or is unsafe, a batch
larger than MNIST, and labels that become one printable line; the good study of the bad-input table.

Every claim of docs/reliability.md is checked in the three tiers: this module; skip-done, isolated
failures, concurrent writers and the bad-input table in tests/integration/execution/test_reliability.py;
resume after kill -9 in tests/system/execution/test_reliability.py.
"""

from __future__ import annotations

import json
import os

import pytest

from study import cli
from study.check.validated_study import load_study
from study.plan.grid import expand
from tests.support.bad_input import LABELLED, assert_refused, good_study, write_idx
from tests.support.runs import cli_run

# --- bad input: one line, exit 2, no store ------------------------------------------------------


def test_the_good_study_of_the_bad_input_table_is_good(tmp_cwd, capsys):
    """The table's cases fail for their one change, not because the base study is broken."""
    path = tmp_cwd / "good.yaml"
    path.write_text(json.dumps(good_study(write_idx(tmp_cwd / "idx"))), encoding="utf-8")
    assert cli.main(["run", str(path), "--dry-run"]) == 0
    from study.execution.datasets import dataset_digest

    study = load_study(path)
    dataset_digest(study, expand(study))  # loads the tiny dataset, checks batch sizes: no error


def test_batch_larger_than_all_of_mnist_is_refused(tmp_cwd, mnist_dir, capsys):
    doc = good_study(mnist_dir)
    doc["base"]["train"]["batch_size"] = 60001
    path = tmp_cwd / "huge.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    code = cli_run(path)
    assert_refused(tmp_cwd, code, capsys.readouterr().err, "is larger than the training set (60000 samples)")


STUDY_FILES = {  # id -> file bytes, text the one error line must hold
    "missing file": (None, "cannot read the study file"),
    "not UTF-8": (b"study: \xff\xfe\n", "cannot read the study file"),
    "not YAML": (b"study: [unclosed\ngrid: {", "not valid YAML"),
    "YAML but not a mapping": (b"- study\n- grid\n", "must be a YAML mapping"),
    "python object tag": (
        b'study: !!python/object/apply:os.system ["touch PWNED"]\ngrid: {model.activation: [relu]}\n',
        "python/object/apply:os.system",
    ),
}


@pytest.mark.parametrize("case", STUDY_FILES, ids=STUDY_FILES)
def test_unreadable_or_unsafe_study_file_is_refused(case, tmp_cwd, capsys):
    blob, needle = STUDY_FILES[case]
    path = tmp_cwd / "study.yaml"
    if blob is not None:
        path.write_bytes(blob)
    code = cli_run(path)
    assert_refused(tmp_cwd, code, capsys.readouterr().err, needle)
    assert not (tmp_cwd / "PWNED").exists()  # safe loading: the tag was refused, not executed


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads any file")
def test_study_file_without_read_permission_is_refused(tmp_cwd, capsys):
    path = tmp_cwd / "study.yaml"
    path.write_text(json.dumps(good_study(tmp_cwd)), encoding="utf-8")
    path.chmod(0)
    assert_refused(tmp_cwd, cli_run(path), capsys.readouterr().err, "cannot read the study file")


# --- safety: names ---------------------------------------------------------------------------


def test_labels_become_one_printable_line(write_study):
    (cell,) = expand(load_study(write_study(LABELLED)))
    assert cell.name == "lr/10 second line [31m red and more · seed 0"
    assert cell.name.isprintable() and cell.labels == {"net": "lr/10 second line [31m red and more"}
