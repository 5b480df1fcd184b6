"""The `study` command as a process: what it imports for answers that need no training, and that a
run ended early by `end_process` has said and stored everything (study/cli.py)."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import yaml

from tests.support.bad_input import good_study, write_idx
from tests.support.paths import REPO

HEAVY = ("tensorflow", "keras", "mlflow", "sqlalchemy", "pandas", "matplotlib", "seaborn", "scipy", "statsmodels")

# Every argv of the test below, one after another in one fresh interpreter (one start-up instead of
# seven): after each, its exit code and the heavy libraries imported so far. A library that one of them
# imports shows in its answer and in every later one's, so this is at least as strict as a process each.
PROBE = """
import json, sys
from study.cli import main
for argv in json.loads(sys.argv[1]):
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    print(json.dumps({{"code": code, "heavy": sorted(m for m in {heavy!r} if m in sys.modules)}}), file=sys.stderr)
"""

ARGVS = [
    ["--help"],
    ["run", "--help"],
    ["run", "missing.yaml"],
    ["run", "bad.yaml"],
    ["run", "bad_value.yaml"],
    ["run", str(REPO / "configs" / "vanishing_gradient.yaml"), "--dry-run"],
    ["run", str(REPO / "configs" / "vanishing_gradient.yaml"), "--set", "train.iterations=-3"],
]


def env() -> dict[str, str]:
    """This environment with the repository importable and no MLFLOW_TRACKING_URI (./mlruns of the cwd)."""
    out = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    out["PYTHONPATH"] = str(REPO) + os.pathsep + out.get("PYTHONPATH", "")
    return out


@pytest.fixture(scope="module")
def probed(tmp_path_factory) -> tuple[Path, list[dict]]:
    """Run the CLI on every argv of ARGVS in one fresh interpreter; per argv, its exit code and the heavy
    libraries imported by then. The working directory holds the bad study files."""
    cwd = tmp_path_factory.mktemp("probe")
    (cwd / "bad.yaml").write_text("study: [unclosed\n")
    (cwd / "bad_value.yaml").write_text("study: s\nbase: {model: {activation: sigmoidd}}\n")
    code = PROBE.format(heavy=HEAVY)
    proc = subprocess.run(
        [sys.executable, "-c", code, json.dumps(ARGVS)], cwd=cwd, env=env(), capture_output=True, text=True, timeout=120
    )
    lines = [line for line in proc.stderr.splitlines() if line.startswith('{"code": ')]
    assert proc.returncode == 0 and len(lines) == len(ARGVS), proc.stderr[-2000:]
    return cwd, [json.loads(line) for line in lines]


@pytest.mark.parametrize("argv", ARGVS)
def test_answers_that_need_no_training_import_nothing_heavy(argv, probed):
    cwd, found_all = probed
    found = found_all[ARGVS.index(argv)]
    assert found["heavy"] == []
    assert found["code"] in (0, 2)
    assert (found["code"] == 0) == (argv[-1] in ("--help", "--dry-run"))
    assert not (cwd / "mlruns").exists()  # and nothing written


def test_a_run_that_ends_the_process_early_has_printed_and_stored_everything(mnist_dir, tmp_path):
    study_file = tmp_path / "smoke.yaml"  # in tmp_path: its project, so its store, is tmp_path
    study_file.write_text((REPO / "configs" / "smoke.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    cmd = [sys.executable, "-m", "study.cli", "run", str(study_file), "--quiet"]
    cmd += ["--set", "train.iterations=20", "--set", "data.train_size=300", "--set", "data.test_size=100"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env(), capture_output=True, text=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr
    assert "= 2 runs, 0 failed" in proc.stdout and proc.stdout.rstrip().endswith("study ui smoke")
    with closing(sqlite3.connect(tmp_path / "mlruns" / "mlflow.db")) as con:
        statuses = sorted(row[0] for row in con.execute("SELECT status FROM runs"))
        curves = con.execute("SELECT count(*) FROM metrics WHERE key = 'test_acc'").fetchone()[0]
    assert statuses == ["FINISHED"] * 3  # the parent and both cells
    assert curves == 2 * 2  # iterations 0 and 20 of each cell
    artifacts = sorted(p.name for p in (tmp_path / "mlruns" / "artifacts" / "smoke").rglob("*") if p.is_file())
    assert artifacts.count("learning_curve.png") == 2 and artifacts.count("config.yaml") == 2


# The training process imports TensorFlow for seconds: `study run` starts it before anything else slow,
# so the store's libraries import beside it. Records what was imported when it started, then exits.
AT_TRAINER_START = """
import os, sys
import study.execution.trainer as trainer
def started(*args, **kwargs):
    print(sorted(m for m in ("mlflow", "sqlalchemy", "pandas", "tensorflow") if m in sys.modules), flush=True)
    os._exit(0)
trainer.Trainer.__init__ = started
from study.cli import main
main(["run", sys.argv[1], "--quiet"])
"""


def test_a_run_starts_its_training_process_before_importing_the_store(tmp_path):
    study_file = tmp_path / "tiny.yaml"
    study_file.write_text(yaml.safe_dump(good_study(write_idx(tmp_path / "data"))), encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-c", AT_TRAINER_START, str(study_file)],
        cwd=tmp_path,
        env=env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "[]", proc.stdout + proc.stderr[-2000:]
    assert not (tmp_path / "mlruns").exists()  # nothing written before it
