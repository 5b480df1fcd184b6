"""Searches run end to end (study/execution/trials.py, search_driver.py) on tiny MNIST subsets and a real store:
trials as named cell runs, the budget kept across invocations and worker processes, pruning that stops
a clearly bad trial early, resuming after `kill -9` without a duplicate trial, bad input refused.

Kill tests run `study run` in a subprocess (through HARNESS, which patches one function) and SIGKILL it.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from study.store.contract import Tag
from tests.run.support import DATA_ENV, Runs, cli_run, prepare_store
from tests.test_search import BAD_SEARCH, good

CHILD_TIMEOUT_S = 300
ITERATIONS = 60

SEARCH = """\
study: searchy
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd}
  train: {iterations: %d, batch_size: 20, eval_every: 10, steps_per_call: 10}
search:
  sampler: random
  trials: %d
  params:
    optimizer.lr: {loguniform: [0.02, 0.5]}
    model.activation: {choice: [relu, tanh]}
"""


def search_text(trials: int, iterations: int = ITERATIONS, extra: str = "") -> str:
    return SEARCH % (iterations, trials) + extra


@pytest.fixture
def project(tmp_path, monkeypatch, mnist_dir, blank_db) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    prepare_store(tmp_path, blank_db)
    return tmp_path


def optuna_trials(root: Path) -> list:
    """Every trial of the store's (one) search, from its optuna.db."""
    import optuna

    storage = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def states(trials: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


# --- a search end to end --------------------------------------------------------------------------


@pytest.mark.slow
def test_a_search_runs_its_budget_as_named_cell_runs_and_a_second_run_trains_nothing(project, write_study, capsys):
    path = write_study(search_text(3))
    assert cli_run(path) == 0
    out = capsys.readouterr().out
    assert "search searchy-" in out and "3 trials (3 complete); budget 3" in out and "best trial" in out
    assert (project / "mlruns" / "optuna.db").exists()
    trials = optuna_trials(project)
    assert [t.number for t in trials] == [0, 1, 2] and states(trials) == {"COMPLETE": 3}
    runs = Runs(project, "searchy")
    cells = {r.data.tags[Tag.TRIAL]: r for r in runs.all()}
    assert sorted(cells) == ["0", "1", "2"] and runs.statuses() == {"FINISHED": 3}
    for t in trials:
        run = cells[str(t.number)]
        lr, activation = t.params["lr"], t.params["activation"]
        assert run.info.run_name == f"trial {t.number} · lr={lr:.3g} · {activation} · seed 0"
        assert run.data.tags[Tag.TRIAL_STATE] == "COMPLETE"
        assert float(run.data.params["optimizer.lr"]) == lr and run.data.params["model.activation"] == activation
        assert run.data.params["lr"] == str(lr) and run.data.tags["axis.activation"] == activation
        assert t.value == run.data.metrics["best_test_acc"]
        assert t.user_attrs["study.runs"] == {"0": run.info.run_id}
        assert runs.steps(run.info.run_id, "test_acc") == list(range(0, ITERATIONS + 1, 10))
        assert {a.path for a in runs.client.list_artifacts(run.info.run_id)} >= {"config.yaml", "learning_curve.png"}
    parent = runs.latest_parent()
    assert parent.data.tags[Tag.SEARCH].startswith("searchy-")
    assert [m["run_id"] for m in runs.manifest(parent.info.run_id)] == [cells[str(i)].info.run_id for i in range(3)]

    assert cli_run(path) == 0  # the budget is used: nothing to train, the manifest still lists every trial
    assert len(runs.all()) == 3 and len(optuna_trials(project)) == 3
    second = runs.latest_parent()
    assert second.info.run_id != parent.info.run_id
    assert [m["status"] for m in runs.manifest(second.info.run_id)] == ["skipped"] * 3

    from study.reporting.write import write_report

    path = write_report("searchy")
    report = path.read_text(encoding="utf-8")
    assert "<h2>Search</h2>" in report and "Best trial" in report and 'id="search-history"' in report
    assert (path.parent / "figures" / "search-parallel.png").exists()


@pytest.mark.slow
def test_raising_the_budget_continues_the_search_from_where_it_stopped(project, write_study):
    path = write_study(search_text(2))
    assert cli_run(path) == 0
    first = {t.number: t.params for t in optuna_trials(project)}
    assert cli_run(path, "--set", "search.trials=4") == 0
    trials = optuna_trials(project)
    assert [t.number for t in trials] == [0, 1, 2, 3] and states(trials) == {"COMPLETE": 4}
    assert {t.number: t.params for t in trials[:2]} == first
    assert len(Runs(project, "searchy").all()) == 4


@pytest.mark.slow
def test_worker_processes_share_one_budget_with_no_trial_lost_or_duplicated(project, write_study):
    assert cli_run(write_study(search_text(4)), "--workers", "2") == 0
    trials = optuna_trials(project)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3] and states(trials) == {"COMPLETE": 4}
    assert len({t.user_attrs["study.process"] for t in trials}) == 2  # both workers asked for trials
    runs = Runs(project, "searchy")
    assert runs.statuses() == {"FINISHED": 4}
    by_trial = {r.data.tags[Tag.TRIAL]: r.info.run_id for r in runs.all()}
    assert by_trial == {str(t.number): t.user_attrs["study.runs"]["0"] for t in trials}


@pytest.mark.slow
def test_a_repeated_point_trains_nothing_and_a_space_smaller_than_the_budget_ends(project, write_study, capsys):
    text = search_text(5).replace("optimizer.lr: {loguniform: [0.02, 0.5]}", "optimizer.lr: {choice: [0.1]}")
    assert cli_run(write_study(text)) == 0  # 2 points, a budget of 5: the space runs out first
    trials = optuna_trials(project)
    counted = [t for t in trials if "study.repeat" not in t.user_attrs]
    assert sorted(t.params["activation"] for t in counted) == ["relu", "tanh"]
    assert states(trials) == {"COMPLETE": len(trials)} and len(trials) <= 50
    repeats = [t for t in trials if "study.repeat" in t.user_attrs]
    by_activation = {t.params["activation"]: t for t in counted}
    assert all(t.value == by_activation[t.params["activation"]].value for t in repeats)
    assert len(Runs(project, "searchy").all()) == 2  # each point trained once
    out = capsys.readouterr().out
    assert f"{len(repeats)} repeated an earlier point (not trained, not counted)" in out or not repeats


# --- pruning --------------------------------------------------------------------------------------

PRUNED = """\
study: pruning
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd}
  train: {iterations: 100, batch_size: 20, eval_every: 10, steps_per_call: 10}
search:
  sampler: random
  trials: 3
  pruner: median
  startup_trials: 2
  params:
    optimizer.lr: {loguniform: [1.0e-6, 0.5]}
"""


@pytest.mark.slow
def test_pruning_stops_a_clearly_bad_trial_early(project, write_study, capsys):
    """Two good learning rates run first (queued in the search's Optuna study); then lr=1e-6, which
    cannot leave chance level in 100 iterations: the median pruner stops it at its first eval point past
    the start (at iteration 0 every trial has the same weights, so the same accuracy: not worse)."""
    from study.execution.datasets import dataset_digest
    from study.execution.trials import SearchJob, first_point, open_search
    from study.plan.space import search_identity, search_space, trial_cells
    from study.spec.studyfile import load_study

    path = write_study(PRUNED)
    study = load_study(path)
    params = search_space(study)
    digest = dataset_digest(study, trial_cells(study, params, 0, first_point(params)))
    name = f"pruning-{search_identity(study, digest)}"
    uri = f"sqlite:///{project / 'mlruns' / 'mlflow.db'}"
    ostudy = open_search(SearchJob(study, [], "", "", uri, digest, name))
    for lr in (0.1, 0.2, 1e-6):
        ostudy.enqueue_trial({"lr": lr})

    assert cli_run(path) == 0
    out = capsys.readouterr().out
    assert "pruned at iteration 10" in out
    trials = optuna_trials(project)
    assert [t.state.name for t in trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    bad = trials[2]
    assert bad.params["lr"] == 1e-6 and max(bad.intermediate_values) == 10
    runs = Runs(project, "pruning")
    run = next(r for r in runs.all() if r.data.tags[Tag.TRIAL] == "2")
    assert run.info.status == "KILLED"
    assert run.data.tags[Tag.TRIAL_STATE] == "PRUNED" and run.data.tags[Tag.PRUNED_AT] == "10"
    assert runs.steps(run.info.run_id, "train_loss") == list(range(1, 11))  # trained up to the stop, no further
    assert runs.steps(run.info.run_id, "test_acc") == [0, 10]
    assert {a.path for a in runs.client.list_artifacts(run.info.run_id)} >= {"config.yaml", "learning_curve.png"}
    good_runs = [r for r in runs.all() if r.data.tags[Tag.TRIAL] != "2"]
    assert all(runs.steps(r.info.run_id, "train_loss") == list(range(1, 101)) for r in good_runs)


# --- kill -9 and resume -----------------------------------------------------------------------------

# `study run` with one function patched: slow chunks (a long mid-cell to kill from outside), or SIGKILL
# itself just before Optuna hears that trial 1 is complete (its cell run is FINISHED in the store).
HARNESS = r"""
import os, signal, sys, time
import study.execution.metrics as metrics
import study.execution.trials as search
from study import cli

point, argv = sys.argv[1], sys.argv[2:]
if point == "slow-chunks":
    metrics.FLUSH_SECONDS, chunk_end = 0.0, metrics.MetricLogger.on_chunk_end
    def on_chunk_end(self, records):
        chunk_end(self, records)
        time.sleep(0.05)
    metrics.MetricLogger.on_chunk_end = on_chunk_end
elif point == "before-tell-1":
    tell = search.tell
    def before_tell(ostudy, trial, state, value, failure):
        if getattr(trial, "number", trial) == 1:
            os.kill(os.getpid(), signal.SIGKILL)
        return tell(ostudy, trial, state, value, failure)
    search.tell = before_tell
sys.exit(cli.main(argv))
"""


def start(root: Path, study: Path, mnist_dir: Path, point: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env[DATA_ENV] = str(mnist_dir)
    cmd = [sys.executable, "-c", HARNESS, point, "run", str(study), "--quiet"]
    with open(root / "killed.out", "wb") as out, open(root / "killed.err", "wb") as err:
        return subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=err)


def cell_runs(db: Path) -> list[tuple[str, str, int]]:
    """(status, trial tag, train_loss points) of every cell run, straight from SQLite (cheap to poll)."""
    if not db.exists():
        return []
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30)) as con:
        return con.execute(
            "select r.status, (select value from tags t where t.run_uuid = r.run_uuid and t.key = 'study.trial'), "
            "(select count(*) from metrics m where m.run_uuid = r.run_uuid and m.key = 'train_loss') from runs r "
            "where exists (select 1 from tags t where t.run_uuid = r.run_uuid and t.key = 'study.role' "
            "and t.value = 'cell')"
        ).fetchall()


def kill_mid_trial(proc: subprocess.Popen, db: Path, iterations: int) -> None:
    """SIGKILL once one trial FINISHED and the next one's cell has logged part of its metrics."""
    import time

    deadline = time.monotonic() + CHILD_TIMEOUT_S
    while True:
        rows = cell_runs(db)
        if any(s == "FINISHED" for s, _, _ in rows) and any(s == "RUNNING" and 0 < n < iterations for s, _, n in rows):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"study run ended (rc {proc.returncode}) before a trial was half-trained")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)


def assert_whole_search(root: Path, budget: int) -> list:
    """The search holds exactly its budget of complete trials, each with one FINISHED run; no config twice."""
    trials = optuna_trials(root)
    complete = [t for t in trials if t.state.name == "COMPLETE"]
    assert len(complete) == budget and not [t for t in trials if t.state.name == "RUNNING"]
    runs = Runs(root, "searchy")
    finished = [r for r in runs.all() if r.info.status == "FINISHED"]
    hashes = [r.data.tags[Tag.CONFIG_HASH] for r in finished]
    assert len(hashes) == len(set(hashes)) == budget, "a configuration was trained to the end twice"
    by_id = {r.info.run_id: r for r in finished}
    for t in complete:
        run = by_id[t.user_attrs["study.runs"]["0"]]
        assert t.value == run.data.metrics["best_test_acc"]
        assert run.data.tags[Tag.TRIAL_STATE] == "COMPLETE"
    return trials


@pytest.mark.slow
def test_kill_9_mid_trial_then_resume_requeues_it_and_duplicates_nothing(
    tmp_path, monkeypatch, mnist_dir, blank_db, capsys
):
    root, iterations = tmp_path, 300
    prepare_store(root, blank_db)
    study = root / "search.yaml"
    study.write_text(search_text(3, iterations), encoding="utf-8")
    db = root / "mlruns" / "mlflow.db"
    proc = start(root, study, mnist_dir, "slow-chunks")
    kill_mid_trial(proc, db, iterations)
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL
    before = optuna_trials(root)
    killed = [t for t in before if t.state.name == "RUNNING"]
    assert len(killed) == 1, states(before)
    done_before = {t.number: t.user_attrs["study.runs"] for t in before if t.state.name == "COMPLETE"}

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    capsys.readouterr()
    assert cli_run(study) == 0
    err = capsys.readouterr().err
    assert "marked 2 run(s) left RUNNING by a dead process as KILLED" in err  # its cell and its parent
    assert "search: 0 trial(s) left RUNNING by a dead process finished from their runs, 1 queued again" in err

    trials = assert_whole_search(root, 3)
    assert trials[killed[0].number].state.name == "FAIL"  # the dead one: not an outcome, not counted
    (retry,) = [t for t in trials if t.user_attrs.get("study.retry_of") == killed[0].number]
    assert retry.params == killed[0].params and retry.state.name == "COMPLETE"
    assert {t.number: t.user_attrs["study.runs"] for t in trials if t.number in done_before} == done_before
    runs = Runs(root, "searchy")
    left = [r for r in runs.all() if r.info.status == "KILLED"]
    assert len(left) == 1 and "ended without closing the run" in left[0].data.tags["study.failure"]
    assert runs.statuses("parent").get("RUNNING", 0) == 0


@pytest.mark.slow
def test_kill_9_between_a_finished_cell_and_its_tell_recovers_the_trial_without_training_it_again(
    tmp_path, monkeypatch, mnist_dir, blank_db, capsys
):
    root = tmp_path
    prepare_store(root, blank_db)
    study = root / "search.yaml"
    study.write_text(search_text(3), encoding="utf-8")
    proc = start(root, study, mnist_dir, "before-tell-1")
    assert proc.wait(CHILD_TIMEOUT_S) == -signal.SIGKILL, (root / "killed.err").read_text()[-2000:]
    assert [t.state.name for t in optuna_trials(root)] == ["COMPLETE", "RUNNING"]
    finished_before = {r.info.run_id for r in Runs(root, "searchy").all() if r.info.status == "FINISHED"}
    assert len(finished_before) == 2

    monkeypatch.chdir(root)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv(DATA_ENV, str(mnist_dir))
    capsys.readouterr()
    assert cli_run(study) == 0
    assert "1 trial(s) left RUNNING by a dead process finished from their runs, 0 queued again" in (
        capsys.readouterr().err
    )
    trials = assert_whole_search(root, 3)
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3 and trials[1].user_attrs["study.runs"]["0"] in (
        finished_before
    )


# --- bad input: one line, exit 2, nothing written -------------------------------------------------------


def assert_refused(root: Path, code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert not (root / "mlruns").exists(), "bad input wrote a store"


@pytest.mark.parametrize("case", BAD_SEARCH, ids=BAD_SEARCH)
def test_bad_search_entries_are_refused_with_one_line_and_nothing_written(case, tmp_cwd, capsys):
    change, needle = BAD_SEARCH[case]
    doc = good()
    change(doc)
    path = tmp_cwd / "bad.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert_refused(tmp_cwd, cli_run(path), capsys.readouterr().err, needle)


def test_rerun_of_a_search_and_an_unreachable_or_unfit_store_are_refused_before_anything_is_written(
    tmp_cwd, mnist_dir, monkeypatch, capsys
):
    doc = good()
    doc["base"]["data"]["dir"] = str(mnist_dir)
    path = tmp_cwd / "s.yaml"
    path.write_text(json.dumps(doc), encoding="utf-8")
    assert_refused(tmp_cwd, cli_run(path, "--rerun"), capsys.readouterr().err, "--rerun: a search continues")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")  # a server is fine, one that is down is not
    assert_refused(tmp_cwd, cli_run(path), capsys.readouterr().err, "cannot reach the tracking server")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "databricks")  # no local file to keep the search in
    assert_refused(tmp_cwd, cli_run(path), capsys.readouterr().err, "'databricks' is neither")
