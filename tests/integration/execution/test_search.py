"""Searches run end to end (study/execution/trials.py, search_driver.py) on tiny MNIST subsets and a real store:
trials as named cell runs, the budget kept across invocations and worker processes, pruning that stops
a clearly bad trial early, a rerun and unfit stores refused before anything is written.
"""

from __future__ import annotations

import json

from study.store.contract import Tag
from tests.support.runs import Runs, cli_run
from tests.support.searches import ITERATIONS, PRUNED, assert_refused, good, optuna_trials, search_text, states

# --- a search end to end --------------------------------------------------------------------------


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

    capsys.readouterr()
    assert cli_run(path) == 0  # the budget is used: nothing to train, no new parent run
    assert len(runs.all()) == 3 and len(optuna_trials(project)) == 3
    assert runs.latest_parent().info.run_id == parent.info.run_id
    out, err = capsys.readouterr()
    assert f"has used its budget of 3 trials in sqlite:///{project / 'mlruns' / 'mlflow.db'} (parent run " in err
    assert f"parent run {parent.info.run_id}" in out and "3 trials (3 complete); budget 3" in out

    from study.reporting.write import write_report

    path = write_report("searchy")
    report = path.read_text(encoding="utf-8")
    assert "<h2>Search</h2>" in report and "Best trial" in report and 'id="search-history"' in report
    assert (path.parent / "figures" / "search-parallel.png").exists()


def test_raising_the_budget_continues_the_search_from_where_it_stopped(project, write_study):
    path = write_study(search_text(2))
    assert cli_run(path) == 0
    first = {t.number: t.params for t in optuna_trials(project)}
    assert cli_run(path, "--set", "search.trials=4") == 0
    trials = optuna_trials(project)
    assert [t.number for t in trials] == [0, 1, 2, 3] and states(trials) == {"COMPLETE": 4}
    assert {t.number: t.params for t in trials[:2]} == first
    assert len(Runs(project, "searchy").all()) == 4


def test_worker_processes_share_one_budget_with_no_trial_lost_or_duplicated(project, write_study):
    assert cli_run(write_study(search_text(4)), "--workers", "2") == 0
    trials = optuna_trials(project)
    assert sorted(t.number for t in trials) == [0, 1, 2, 3] and states(trials) == {"COMPLETE": 4}
    assert len({t.user_attrs["study.process"] for t in trials}) == 2  # both workers asked for trials
    runs = Runs(project, "searchy")
    assert runs.statuses() == {"FINISHED": 4}
    by_trial = {r.data.tags[Tag.TRIAL]: r.info.run_id for r in runs.all()}
    assert by_trial == {str(t.number): t.user_attrs["study.runs"]["0"] for t in trials}


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


def test_pruning_stops_a_clearly_bad_trial_early(project, write_study, capsys):
    """Two good learning rates run first (queued in the search's Optuna study); then lr=1e-6, which
    cannot leave chance level in 100 iterations: the median pruner stops it at its first eval point past
    the start (at iteration 0 every trial has the same weights, so the same accuracy: not worse)."""
    from study.check.validated_study import load_study
    from study.execution.datasets import dataset_digest
    from study.execution.trials import SearchJob, first_point, open_search
    from study.plan.space import search_identity, search_space, trial_cells

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


# --- bad input: one line, exit 2, nothing written -------------------------------------------------------


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
