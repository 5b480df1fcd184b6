"""The tiers, their rules, and the fixtures every tier uses.

Three tiers, each a directory that mirrors study/ (tests/<tier>/spec/, .../store/, ...; the API,
the CLI and the UI at the top of each):

- tests/unit: no TensorFlow, no process, no network; MLflow on a SQLite store in tmp and pandas are
  fine. Refused there while a test runs (tests/support/guard.py). `pytest -m unit` runs it alone.
- tests/integration: real training on tiny data in this process, `study run` in subprocesses.
- tests/system: kill -9 and signals, a tracking server, Ray, the browser, the notebook, fuzzing,
  load.

Each test gets the marker of its directory (`unit`, `integration`, `system`) and no other tier's.
`-m unit` (or `integration`, `system`) alone also skips collecting the other tiers' modules, so the
unit tier imports no TensorFlow. Shared helpers live in tests/support/ (a test module imports no
other test module); fixtures that tests of several tiers use are here.

Import-light on purpose: nothing here imports TensorFlow.
"""

from __future__ import annotations

import getpass
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.support.guard import GUARD

# Hypothesis profiles: `ci` (the default) tries a bounded number of examples; `fuzz` is the larger
# documented run (docs/reliability.md): STUDY_HYPOTHESIS_PROFILE=fuzz pytest tests/system/test_fuzz.py.
# No example database is written into the repository (database=None).
settings.register_profile(
    "ci", max_examples=40, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "fuzz", max_examples=2000, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("STUDY_HYPOTHESIS_PROFILE", "ci"))

# A test writes its stores and reports under tmp, never into the checkout: a study file in configs/
# has the repository as its project, so running it without a store of its own would write here.
REPO = Path(__file__).resolve().parents[1]
TOOL_CACHES = {".pytest_cache", ".hypothesis", ".ruff_cache", ".mypy_cache", "test-output"}
REPO_ENTRIES = {p.name for p in REPO.iterdir()}

# Reports do their store work and draw their figures in the test's process: the unit tier starts no process,
# and the test workers already use every core. tests/integration/reporting/test_rendering.py and
# test_store_side.py fork them.
os.environ.setdefault("STUDY_REPORT_WORKERS", "1")
# No dry run times TensorFlow on a first convolutional study (~15 s a worker): tests/integration/execution/
# test_kind_probe.py runs the probe itself.
os.environ.setdefault("STUDY_SPEED_PROBE", "off")
# study's cache (the machine's rate, its estimate's calibration, MLflow's empty store) is kept out of the
# user's: tests train tiny cells under load, which would otherwise correct the user's estimates. One folder
# for every worker and session (its MLflow head is parsed once).
os.environ.setdefault("STUDY_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"study-test-cache-{getpass.getuser()}"))

# --- the tiers -------------------------------------------------------------------------------------

TESTS = Path(__file__).resolve().parent
TIERS = ("unit", "integration", "system")


def tier_of(path: Path) -> str | None:
    """The tier a path under tests/ belongs to: the first directory below tests/."""
    try:
        first = Path(path).resolve().relative_to(TESTS).parts[0]
    except (ValueError, IndexError):
        return None
    return first if first in TIERS else None


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """With `-m <tier>` alone, do not even import the other tiers' modules (TensorFlow, Ray, ...)."""
    wanted = (config.getoption("markexpr", "") or "").strip()
    if wanted in TIERS:
        tier = tier_of(collection_path)
        if tier is not None and tier != wanted:
            return True
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    """`--dist loadfile`: by file, shared servers grouped, slow tiers first (tests/support/scheduling.py)."""
    if config.getvalue("dist") != "loadfile":
        return None
    from tests.support.scheduling import FileScheduling

    return FileScheduling(config, log)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its directory's tier; a test outside the tiers, or marked with another
    tier than its directory's, stops the run."""
    wrong = []
    for item in items:
        tier = tier_of(item.path)
        if tier is None:
            wrong.append(f"{item.nodeid}: not under tests/unit, tests/integration or tests/system")
            continue
        others = [t for t in TIERS if t != tier and item.get_closest_marker(t)]
        if others:
            wrong.append(f"{item.nodeid}: marked {', '.join(others)} but lives in tests/{tier}")
        item.add_marker(tier)
    if wrong:
        raise pytest.UsageError("every test belongs to exactly one tier:\n  " + "\n  ".join(wrong))
    if hasattr(config, "workerinput"):  # an xdist worker (whose own `dist` option xdist sets to "no")
        from tests.support.scheduling import slow_tiers_first

        slow_tiers_first(items)


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector):
    """A module of tests/unit that imports TensorFlow when collected fails to collect."""
    check = isinstance(collector, pytest.Module) and tier_of(collector.path) == "unit"
    before = {"tensorflow", "keras"} & set(sys.modules) if check else set()
    report = yield
    if check and report.passed:
        new = ({"tensorflow", "keras"} & set(sys.modules)) - before
        if new:
            report.outcome = "failed"
            report.longrepr = (
                f"{collector.nodeid}: importing it imported {', '.join(sorted(new))}; a unit test module "
                "imports no TensorFlow (move the test to tests/integration)"
            )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Arm the unit tier's guard before any of a unit test's fixtures is set up."""
    if tier_of(item.path) == "unit":
        GUARD.arm(item.nodeid)
    return (yield)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None):
    try:
        return (yield)
    finally:
        GUARD.disarm()


@pytest.fixture(autouse=True)
def unit_tier_rules(request: pytest.FixtureRequest):
    """After a unit test: fail it if it started a process, opened a network socket (even where its code
    swallowed the refusal) or imported TensorFlow. Yields the guard (tests/support/guard.py)."""
    if tier_of(request.node.path) != "unit":
        yield None
        return
    yield GUARD
    problems = GUARD.problems()
    if problems:
        GUARD.violations.clear()
        pytest.fail(
            "this unit test broke its tier's rules (tests/conftest.py):\n- " + "\n- ".join(problems), pytrace=False
        )


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session when a test left a file or folder (a store, reports, …) in the repository."""
    made = sorted({p.name for p in REPO.iterdir()} - REPO_ENTRIES - TOOL_CACHES)
    if made:
        print(f"\nerror: the tests wrote {', '.join(made)} into the repository ({REPO})")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


# --- fixtures of every tier ------------------------------------------------------------------------

DATA_DIR_ENV = "STUDY_DATA_DIR"  # where the MNIST IDX files are; tests that need them skip without it
IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

# The README's test command names the data relative to the repository (../shared/data/mnist); tests work in
# temporary folders, and the `study` processes they start too: resolve it once, where pytest was started.
if os.environ.get(DATA_DIR_ENV):
    os.environ[DATA_DIR_ENV] = str(Path(os.environ[DATA_DIR_ENV]).resolve())


def find_mnist_dir() -> Path | None:
    """The directory named by STUDY_DATA_DIR when it holds the four IDX files (raw or .gz)."""
    value = os.environ.get(DATA_DIR_ENV)
    if not value:
        return None
    path = Path(value)
    if all((path / name).is_file() or (path / f"{name}.gz").is_file() for name in IDX_FILES):
        return path
    return None


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST IDX directory from STUDY_DATA_DIR; skips the test when it is not there."""
    path = find_mnist_dir()
    if path is None:
        pytest.skip(f"{DATA_DIR_ENV} is unset or does not hold the four MNIST IDX files")
    return path


@pytest.fixture
def tmp_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Work in tmp_path with no MLFLOW_TRACKING_URI, so the default `mlruns/` store would land there."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture
def store(tmp_cwd: Path):
    """A fresh default MLflow store (SQLite under tmp_path/mlruns), opened as `study.store.runs.Store`."""
    from study.store.runs import Store

    yield Store()


@pytest.fixture
def write_study(tmp_path: Path) -> Callable[..., Path]:
    """A helper that writes study YAML text to tmp_path/<name> and returns the file's path."""

    def write(text: str, name: str = "study.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="session")
def blank_db(tmp_path_factory) -> Path:
    """An empty, fully migrated MLflow SQLite store, made once: migrating a new store costs seconds."""
    from study.store.runs import Store

    path = tmp_path_factory.mktemp("blank") / "mlflow.db"
    Store(f"sqlite:///{path}")
    return path


@pytest.fixture
def blank_store(tmp_cwd: Path, blank_db: Path):
    """The default store of tmp_cwd (./mlruns/mlflow.db, a copy of the blank store), opened as a `Store`."""
    from study.store.runs import Store

    (tmp_cwd / "mlruns").mkdir()
    shutil.copy(blank_db, tmp_cwd / "mlruns" / "mlflow.db")
    return Store()


@pytest.fixture(scope="module")
def hand_store(tmp_path_factory, blank_db) -> dict:
    """The hand-built store of tests/support/handbuilt.py (studies toy, bn, reps, empty, broken), one per module."""
    from tests.support.handbuilt import build_store

    root = tmp_path_factory.mktemp("store")
    shutil.copy(blank_db, root / "mlflow.db")
    return build_store(root)


@pytest.fixture(scope="module")
def toy_summary(hand_store):
    """The toy study's per-run table and per-cell summary, read from the latest parent."""
    from study.analysis.statistics import run_stats, summarize
    from study.store.reader import find_experiment, find_parent, load_study_runs

    client = hand_store["client"]
    experiment = find_experiment(client, "toy")
    study = load_study_runs(client, experiment, find_parent(client, experiment))
    per_run = run_stats(study)
    return study, per_run, summarize(per_run, study.axes)


@pytest.fixture(scope="module")
def reps_context(hand_store):
    """The reps study's per-run table, summary and axes."""
    from study.analysis.statistics import run_stats, summarize
    from study.store.reader import find_experiment, find_parent, load_study_runs

    client = hand_store["client"]
    experiment = find_experiment(client, "reps")
    study = load_study_runs(client, experiment, find_parent(client, experiment), ("test_acc", "grad_norm/*"))
    per_run = run_stats(study)
    return study, per_run, summarize(per_run, study.axes)
