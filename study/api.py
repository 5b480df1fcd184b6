"""The Python API: what `import study` offers a notebook, and what the `study` command calls.

    >>> import study
    >>> result = study.run("configs/smoke.yaml", overrides=["seeds=2"], store="mlruns")
    >>> result.ok, result.parent_run_id
    >>> result.cells                               # one row per cell run: axes, metrics, status, run id
    >>> study.runs("smoke", store="mlruns")        # the study's latest run, read back from the store
    >>> study.curves("smoke", store="mlruns")      # long format: run_id, cell, seed, axes, metric, step, value
    >>> study.report("smoke", store="mlruns")      # reports/smoke/<parent run id>/report.html
    >>> study.compare(old_parent_id, "smoke").table
    >>> study.rm(old_parent_id, store="mlruns")    # soft delete; purge=True removes for good
    >>> study.best_model("smoke").model            # the kept best model, loaded as a keras.Model

Every function takes `store=`: a store directory (`mlruns`, holding `mlflow.db`), a `.db` file or a
tracking URI; None means the store the CLI uses (the project's mlruns/, found from the study file or
the current folder, or $MLFLOW_TRACKING_URI). Where a
function takes a `target`, it is a study name (meaning its latest `study run`) or a parent run id
(`study list` shows them); `best_model` also takes the study file's path. Bad input raises
`study.errors.StudyError` with the one line the CLI prints. Nothing heavy is imported until a function
is called (`import study` stays instant).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from study.errors import StudyError
from study.results import BestModel, RunResult, run_result, stored_report

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

    from study.analysis.compare import Comparison
    from study.spec.document import Study
    from study.store.delete import DeletionPlan
    from study.store.lookup import Target
    from study.store.reader import StudyRuns

StoreArg = str | os.PathLike | None
"""A store directory, a `.db` file, a tracking URI, or None for the CLI's default store."""


# --- studies and running them --------------------------------------------------------------------------


def load(path: str | os.PathLike, overrides: Sequence[str] = ()) -> Study:
    """Read and validate a study file, `overrides` applied like `--set` (e.g. `["train.iterations=500"]`).

    >>> s = study.load("configs/smoke.yaml", overrides=["seeds=3"])
    >>> s.name, s.spec.seed_list
    ('smoke', [0, 1, 2])
    """
    from study.check.validated_study import load_study

    return load_study(Path(path), list(overrides))


def cells(config: str | os.PathLike | Study, overrides: Sequence[str] = ()) -> pd.DataFrame:
    """The cells a run would train, in grid order (what `study run --dry-run` prints): index, name,
    cell, seed, config_hash and one `axis.<name>` column per axis. Runs every check `--dry-run` runs."""
    import pandas as pd

    from study.check.study_plan import check
    from study.plan.grid import expand

    spec = _study(config, overrides)
    plan = check(spec)  # the checks `study run --dry-run` makes: both refuse the same studies
    planned = plan.cells if not plan.is_search else expand(spec)  # a search has no grid: expand says so
    rows = [
        {
            "index": c.index,
            "name": c.name,
            "cell": c.group,
            "seed": c.seed,
            "config_hash": c.config_hash,
            **{f"axis.{k}": v for k, v in c.labels.items()},
        }
        for c in planned
    ]
    return pd.DataFrame(rows)


def run(
    config: str | os.PathLike | Study,
    overrides: Sequence[str] = (),
    *,
    store: StoreArg = None,
    rerun: bool = False,
    workers: int = 1,
    backend: str = "local",
    progress: bool = True,
    report: bool = False,
    ray_address: str | None = None,
    cpus_per_cell: float = 1.0,
    builder: str | Callable | None = None,
) -> RunResult:
    """Train every missing cell of a study (a file, or what `load` returned) into the store: `study run`.

    Cells already FINISHED in the store are skipped unless `rerun`; `report=True` writes the report
    of the run too (reports/<study>/<parent run id>/). `builder`: the cells' `model.builder`, a reference
    or the function itself (one defined in the notebook trains in this process: one local worker). Bad
    input raises StudyError before anything is written.

    >>> result = study.run("configs/smoke.yaml", store="mlruns", progress=False)
    >>> result.cells[["cell", "status", "final_test_acc"]]
    >>> study.run("own.yaml", builder=build)       # def build(args, input_shape, outputs) -> keras.Model
    """
    from study.execution.driver import run_study
    from study.execution.options import RunOptions

    spec = _study(config, [*overrides, *_builder_override(builder, workers, backend)])
    options = RunOptions(rerun, workers, backend, progress, ray_address, cpus_per_cell)  # refused before the store
    uri = _uri(store, create=True, near=spec.source)  # None: the store of the study file's project
    result = run_study(spec, replace(options, tracking_uri=uri))
    outcome = run_result(result, uri)
    if report and result.parent_id is not None:
        stored = stored_report(outcome)
        local = Path(stored) if stored is not None and "://" not in stored else None
        outcome.report_path = local or _write_report(uri, result.parent_id)
    return outcome


# --- reading the store ---------------------------------------------------------------------------------


def runs(target: str, *, store: StoreArg = None) -> pd.DataFrame:
    """One row per cell run of a `study run` (a study name: its latest): study, parent_run_id, run_id,
    cell, seed, status, `axis.<name>` columns, summary metrics (final_test_acc, …), failure,
    config_hash, dataset, times and `params.<setting>` columns.

    >>> study.runs("smoke").sort_values("final_test_acc", ascending=False).iloc[0]["run_id"]
    """
    study_runs = _read(target, store, curve_metrics=())
    frame = study_runs.runs.copy()
    frame.insert(0, "parent_run_id", study_runs.parent.info.run_id)
    frame.insert(0, "study", study_runs.study)
    return frame


def curves(target: str, metrics: Sequence[str] | None = None, *, store: StoreArg = None) -> pd.DataFrame:
    """The metric histories of a `study run`'s cell runs in long format: run_id, cell, seed, one
    `axis.<name>` column per axis, metric, step, value. `metrics`: names or patterns (`grad_norm/*`);
    default train_loss, train_acc, test_acc, test_loss.

    >>> c = study.curves("smoke")
    >>> sns.lineplot(c[c.metric == "test_acc"], x="step", y="value", hue="cell")
    """
    from study.store.reader import CURVE_METRICS

    study_runs = _read(target, store, curve_metrics=tuple(metrics or CURVE_METRICS))
    axes = [a.column for a in study_runs.axes]
    frame = study_runs.curves.merge(study_runs.runs[["run_id", *axes]], on="run_id", how="left")
    return frame[["run_id", "cell", "seed", *axes, "metric", "step", "value"]]


def report(
    target: str,
    *,
    run: str | None = None,
    out: str | os.PathLike | None = None,
    compare: str | None = None,
    store: StoreArg = None,
) -> Path:
    """Write the report of a `study run` (default folder reports/<study>/<parent run id>/), attach it to
    the parent run and return the path of report.html. `run`: a parent id of the study named by `target`;
    `compare`: another run or study (A) to add a section comparing this run (B) with it.

    >>> study.report("smoke", compare=earlier_parent_id)
    """
    return _write_report(_uri(store), target, run, out, compare)


def best_model(target: str | os.PathLike, metric: str | None = None, *, store: StoreArg = None) -> BestModel:
    """The best model of a `study run`, loaded (KerasTuner's `get_best_models()`): by default the model the run
    kept, chosen by its rule (a search's metric; else validation data when the study has some, else the test
    set); with `metric` (a summary metric, e.g. `"best_val_acc"`), the FINISHED run that kept a model with the
    best value of it. `target`: a study name, a parent run id or the study file's path. A study that kept no
    model (`tracking.keep_model: none`) raises StudyError.

    >>> best = study.best_model("configs/smoke.yaml")
    >>> best.model.predict(x_test), best.metric, best.value, best.run.info.run_id
    """
    from study.store.best_model import choose, kept_runs, load_model

    name, near = _study_or_path(target)
    with _client(_uri(store, near=near)) as client:
        chosen = _target(client, name)
        run, picked = choose(chosen, kept_runs(client, chosen), metric)
        return BestModel(load_model(client, run), run, picked, float(run.data.metrics[picked]))


# --- comparing and deleting ----------------------------------------------------------------------------


def compare(a: str, b: str, *, metrics: Sequence[str] = ("final_test_acc",), store: StoreArg = None) -> Comparison:
    """B against A, cell by cell (`study compare A B`): two parent runs, or two studies with the same
    axes (their latest runs). `.table` has one row per shared cell and metric: n_a, n_b, mean_a,
    mean_b, diff (B − A), ci_lo, ci_hi (Welch, when both have two seeds) and the verdict (changed,
    within noise, needs seeds, …); `.text()` is what the CLI prints; `.settings` what differs.

    >>> study.compare("3f2a…", "9bc1…").table
    """
    with _client(_uri(store)) as client:
        return _compare(client, _target(client, a), _target(client, b), tuple(metrics))


def rm(
    target: str,
    *,
    purge: bool = False,
    store: StoreArg = None,
    confirm: Callable[[DeletionPlan], bool] | None = None,
) -> DeletionPlan:
    """Delete a study's runs (a study name: all of them) or one parent run and the cell runs it trained
    (`study rm`); never another study's. MLflow's soft delete; `purge=True` then removes them (and runs
    of the target deleted earlier) for good, artifacts included. `confirm(plan)` is asked first, and
    nothing changes unless it returns True (the API deletes without asking when it is None).
    The plan is returned; `plan.done` says whether it was carried out.

    >>> study.rm(old_parent_id, confirm=lambda plan: print(plan.text()) or True)
    """
    from study.store.delete import delete_runs, plan_deletion
    from study.store.lookup import find_target

    with _client(_uri(store)) as client:
        plan = plan_deletion(client, find_target(client, target, latest=False, deleted=purge), purge)
        delete_runs(client, plan, confirm)
    return plan


# --- helpers -------------------------------------------------------------------------------------------


def _study(config: str | os.PathLike | Study, overrides: Sequence[str]) -> Study:
    """A Study from a path (overrides applied) or as given (then no overrides)."""
    from study.spec.document import Study

    if isinstance(config, Study):
        if overrides:
            raise StudyError("overrides: give them to study.load (or pass the file's path), not with a loaded study")
        return config
    return load(config, overrides)


def _builder_override(builder: str | Callable | None, workers: int, backend: str) -> list[str]:
    """`model.builder=<reference>` for run(builder=…); a function without a module file only in this process."""
    if builder is None:
        return []
    from study.spec.builder import IN_MEMORY, BuilderError, register

    try:
        ref = builder if isinstance(builder, str) else register(builder)
    except BuilderError as exc:
        raise StudyError(f"builder: {exc}") from None
    if ref.startswith(IN_MEMORY) and (workers > 1 or backend != "local"):
        raise StudyError(
            f"builder: {getattr(builder, '__name__', ref)} is defined in this Python process (a notebook), which "
            "--workers and Ray cannot import: put it in a .py file and pass that function (or 'file.py:name')"
        )
    return [f"model.builder={ref}"]


def _study_or_path(target: str | os.PathLike) -> tuple[str, str | None]:
    """A target as a study name or parent run id, and the study file it was read from (whose project holds
    the default store) when it is the path of one."""
    path = Path(target)
    if not path.is_file():
        return os.fspath(target), None
    return load(path).name, str(path)


def _write_report(
    uri: str, target: str, run: str | None = None, out: str | os.PathLike | None = None, compare: str | None = None
) -> Path:
    """`report`'s work, also done by `run(report=True)`."""
    from study.reporting.write import write_report

    return write_report(target, Path(out) if out else None, run, tracking_uri=uri, compare=compare)


def _uri(store: StoreArg, create: bool = False, near: str | None = None) -> str:
    from study.store.lookup import store_uri

    return store_uri(store, create=create, near=near)


@contextmanager
def _client(uri: str) -> Iterator[MlflowClient]:
    """An MlflowClient on the store; MLflow's own errors become one StudyError line."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    from study.store.connect import repoint_moved_store

    try:
        repoint_moved_store(uri)
        yield MlflowClient(uri)
    except MlflowException as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise StudyError(f"cannot use the MLflow store at {uri}: {first_line}") from None


def _target(client: MlflowClient, target: str, run: str | None = None) -> Target:
    """A study name or parent id resolved to its parent run (`run`: that parent of the named study)."""
    from study.store.lookup import resolve_target

    return resolve_target(client, target, run)


def _load(client: MlflowClient, target: Target, curve_metrics: Sequence[str] | None = None) -> StudyRuns:
    from study.store.reader import CURVE_METRICS, load_study_runs

    assert target.parent is not None
    metrics = CURVE_METRICS if curve_metrics is None else tuple(curve_metrics)
    return load_study_runs(client, target.experiment, target.parent, metrics)


def _read(target: str, store: StoreArg, curve_metrics: Sequence[str]) -> StudyRuns:
    with _client(_uri(store)) as client:
        return _load(client, _target(client, target), curve_metrics)


def _compare(client: MlflowClient, a: Target, b: Target, metrics: tuple[str, ...] = ("final_test_acc",)) -> Comparison:
    from study.analysis.compare import compare_runs

    return compare_runs(_load(client, a), _load(client, b), metrics)
