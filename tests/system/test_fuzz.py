"""Property-based fuzzing (Hypothesis) of the study-file loader, the `--set` parser and the CLI: whatever
is generated, the command ends in exit 0 or in exit 2 with exactly one line, never a traceback, and a
refused study leaves no store behind.

The CI profile (tests/conftest.py) tries a bounded number of examples per test; the documented larger
run (docs/reliability.md) is

    STUDY_HYPOTHESIS_PROFILE=fuzz pytest -p no:xdist tests/system/test_fuzz.py --hypothesis-show-statistics

whose statistics report how many examples were tried and the outcomes (`event`s: exit 0, exit 2).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import event, given
from hypothesis import strategies as st

from study.spec.keys import setting_keys
from study.spec.layers import ACTIVATIONS, LAYER_TYPES
from study.spec.model import INITIALIZERS
from study.spec.optimizer import OPTIMIZERS
from study.spec.studyfile import DOCUMENT_KEYS
from tests.support.fuzzing import assert_clean_outcome, assert_nothing_written, study_cli

pytestmark = pytest.mark.usefixtures("mnist_dir")  # the dry run reads the data's headers

BASE = {
    "data": {"name": "mnist", "train_size": 300, "test_size": 100},
    "model": {"hidden": [8], "activation": "relu", "initializer": "he"},
    "optimizer": {"name": "sgd", "lr": 0.1},
    "train": {"iterations": 20, "batch_size": 20, "eval_every": 10},
}
KEYS = setting_keys()
WORDS = [*ACTIVATIONS, *INITIALIZERS, *OPTIMIZERS, *LAYER_TYPES, "off", "before", "after", "yes", "no", "on", "full"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 70000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(WORDS),
    st.text(max_size=6),
)
values = st.one_of(scalars, st.lists(st.integers(-2, 40), max_size=3), st.lists(scalars, max_size=2))
layers = st.fixed_dictionaries(
    {"type": st.sampled_from([*LAYER_TYPES, "conv3d", ""])},
    optional={
        "units": st.integers(-1, 12),
        "filters": st.integers(0, 4),
        "kernel": st.integers(0, 9),
        "padding": st.integers(-1, 3),
        "pool": st.integers(0, 5),
        "rate": st.floats(-0.5, 1.5),
        "name": st.sampled_from(WORDS),
        "bogus": scalars,
    },
)
setting_key = st.one_of(st.sampled_from(KEYS), st.sampled_from(KEYS).map(lambda k: k + "x"), st.text(max_size=8))


@st.composite
def study_documents(draw) -> dict[str, Any]:
    """A valid small study with a few random changes: settings, axes, bundles, excludes, seeds, stacks."""
    doc: dict[str, Any] = {"study": "fuzz", "base": {k: dict(v) for k, v in BASE.items()}, "grid": {}}
    doc["grid"]["model.activation"] = draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=3))
    for _ in range(draw(st.integers(0, 4))):
        change = draw(st.sampled_from(["base", "axis", "bundle", "exclude", "seeds", "arch", "top", "drop"]))
        key = draw(setting_key)
        section, _, field = key.partition(".")
        if not isinstance(doc.get("base"), dict):
            doc["base"] = {}
        if not isinstance(doc.get("grid"), dict):
            doc["grid"] = {}
        if change == "base":
            target = doc["base"].setdefault(section, {})
            if isinstance(target, dict) and field:
                target[field] = draw(values)
            else:
                doc["base"][section] = draw(values)
        elif change == "axis":
            doc["grid"][key] = draw(st.lists(values, max_size=3))
        elif change == "bundle":
            entry = st.dictionaries(st.one_of(st.just("label"), setting_key), values, max_size=3)
            doc["grid"][draw(st.text(min_size=1, max_size=5))] = draw(st.lists(entry, max_size=3))
        elif change == "exclude":
            doc["exclude"] = doc["exclude"] if isinstance(doc.get("exclude"), list) else []
            doc["exclude"].append(draw(st.dictionaries(setting_key, values, max_size=2)))
        elif change == "seeds":
            doc["seeds"] = draw(st.one_of(st.integers(-1, 4), st.lists(st.integers(-1, 3), max_size=4), scalars))
        elif change == "arch":
            name = draw(st.sampled_from(["a", "b"]))
            doc["architectures"] = doc["architectures"] if isinstance(doc.get("architectures"), dict) else {}
            doc["architectures"][name] = draw(st.lists(layers, max_size=5))
            model = doc["base"].get("model")
            doc["base"]["model"] = {
                **(model if isinstance(model, dict) else {}),
                "arch": draw(st.sampled_from(["a", "b"])),
            }
        elif change == "top":
            doc[draw(st.sampled_from([*DOCUMENT_KEYS, "studdy"]))] = draw(values)
        elif doc["base"]:
            doc["base"].pop(draw(st.sampled_from(sorted(doc["base"]))))
    return doc


def text_of(doc: dict[str, Any], splice: tuple[int, str] | None) -> str:
    """The document as YAML, optionally with some characters spliced in (to reach the parser's errors)."""
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    if splice is not None:
        at = splice[0] % (len(text) + 1)
        text = text[:at] + splice[1] + text[at:]
    return text


@given(doc=study_documents(), splice=st.none() | st.tuples(st.integers(0, 10**4), st.text(min_size=1, max_size=3)))
def test_generated_study_files_end_in_exit_0_or_one_line(doc, splice):
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        path = cwd / "study.yaml"
        path.write_text(text_of(doc, splice), encoding="utf-8")
        rc, out, err = study_cli(["run", str(path), "--dry-run"], cwd)
        assert_clean_outcome(rc, err)
        if rc == 2:  # the real run refuses it the same way, before the store exists
            first = err
            rc, out, err = study_cli(["run", str(path), "--quiet"], cwd)
            assert (rc, err) == (2, first)
            assert_nothing_written(cwd)
        else:
            assert out.count("\n") >= 1


@given(sets=st.lists(st.tuples(setting_key, st.text(max_size=10)).map("=".join) | st.text(max_size=12), max_size=3))
def test_generated_set_arguments_end_in_exit_0_or_one_line(sets):
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        path = cwd / "study.yaml"
        path.write_text(yaml.safe_dump({"study": "fuzz", "base": BASE, "grid": {"model.activation": ["relu"]}}))
        argv = ["run", str(path), "--dry-run"]
        for item in sets:
            argv += ["--set", item]
        rc, _, err = study_cli(argv, cwd)
        assert_clean_outcome(rc, err)
        assert_nothing_written(cwd)


WORDS_CLI = ["run", "list", "report", "verify", "reproduce", "--workers", "--backend", "--dry-run", "--set", "-o"]
WORDS_CLI += ["--run", "--address", "--cpus-per-cell", "--rerun", "--quiet", "local", "ray", "0", "-1", "2", "nan"]
WORDS_CLI += ["inf", "1e9", "abc", "study.yaml", "missing.yaml", "--help-me", "--", ""]


@given(argv=st.lists(st.sampled_from(WORDS_CLI) | st.text(max_size=6), max_size=6), with_store=st.booleans())
def test_generated_command_lines_end_in_exit_0_or_one_line(argv, with_store, blank_db):
    if argv and argv[0] == "run" and "--dry-run" not in argv:
        argv = [*argv, "--dry-run"]  # a real run of the valid file would train
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "study.yaml").write_text(yaml.safe_dump({"study": "fuzz", "base": BASE, "grid": {"model.l2": [0.0]}}))
        db = cwd / "mlruns" / "mlflow.db"
        if with_store:  # an existing, empty store (a copy: migrating a new one costs seconds)
            db.parent.mkdir()
            shutil.copy(blank_db, db)
        before = db.read_bytes() if with_store else None
        rc, _, err = study_cli(argv, cwd)
        assert_clean_outcome(rc, err)
        if rc == 2 and with_store:
            assert db.read_bytes() == before
        elif rc == 2:
            assert_nothing_written(cwd)


@given(
    port=st.one_of(st.integers(-5, 70000), st.text(max_size=6)),
    host=st.one_of(
        st.sampled_from(["127.0.0.1", "::1", "localhost", "0.0.0.0", "8.8.8.8", "", "a b"]), st.text(max_size=8)
    ),
)
def test_generated_ui_addresses_end_in_one_line_or_reach_the_server_start(port, host, monkeypatch_session):
    """`study ui`: every value is checked before the server starts (its start is replaced here)."""
    with tempfile.TemporaryDirectory() as tmp:
        rc, _, err = study_cli(["ui", "--port", str(port), "--host", host], Path(tmp))
    err = err.split("\n", 1)[1] if err.startswith("store: ") else err
    assert rc in (0, 2) and (rc == 0 or (err.count("\n") == 1 and err.startswith("error: "))), (rc, err)
    event(f"exit {rc}")


class Started(Exception):
    """Raised in place of starting the MLflow server."""


@pytest.fixture(scope="module")
def monkeypatch_session():
    """Replace the UI server's start with a stand-in that records it and returns exit 0."""
    from study import ui

    original = ui.serve
    checked = []

    def serve(study_name, host, port, run=None):
        ui.check_port_free(host, port)
        checked.append((host, port))
        return 0

    ui.serve = serve
    yield checked
    ui.serve = original
