"""A search's work for the driver: its Optuna study in the store, trials asked until the budget is used."""

from __future__ import annotations

import sys
from collections.abc import Generator
from pathlib import Path
from typing import Any

from study.check.expectations import Outcome
from study.check.study_plan import Plan
from study.errors import StudyError
from study.execution.cell import CellResult
from study.execution.options import RunOptions
from study.execution.parent import finish_parent, settle_models
from study.execution.search_results import earlier_results, keep_front_models, tag_front, trial_summary
from study.execution.trials import SPEC_ATTR, SearchJob, next_trial_possible, open_search, recover, search_spec
from study.plan.space import axis_keys, search_identity
from study.store.contract import ROLE_PARENT, Tag, tag_is
from study.store.finished import covering_parent
from study.store.runs import Store
from study.store.search_home import has_study, is_server, search_home


class SearchWork:
    """The trials of a search: where its Optuna study lives, what a dead process left, the trials to run
    now, and the parent's manifest of the whole search (earlier invocations' trials included)."""

    def __init__(self, plan: Plan, options: RunOptions):
        assert plan.params is not None
        self.plan, self.options = plan, options
        self.study = plan.study
        self.axes = axis_keys(plan.params)
        self.home = Path()
        self.job: SearchJob | None = None
        self.ostudy: Any = None  # the Optuna study, opened in `resume`
        self.skipped: list[CellResult] = []  # a search with nothing left to train: its trials' cells
        self.recovered = 0  # trials a dead process left RUNNING, settled by `resume`

    @property
    def search(self):
        assert self.study.spec.search is not None
        return self.study.spec.search

    @property
    def n_cells(self) -> int:
        return (self.search.trials or 0) * len(self.study.spec.seed_list)

    def name(self, digest: str) -> str:
        """The Optuna study's name: the study's and its search's identity on this data."""
        return f"{self.study.name}-{search_identity(self.study, digest)}"

    def check_home(self, uri: str | None) -> None:
        """A store that can hold no search (its home) is refused before anything is written."""
        from study.store.connect import default_tracking_uri

        self.home = search_home(uri or default_tracking_uri(), study_folder(self.study.source))

    def before_writing(self, store: Store, exp_id: str, digest: str) -> None:
        """Refuse a search started from another project (its Optuna study is not in this one's home)."""
        check_started_here(store, exp_id, self.home, self.name(digest))

    def resume(self, store: Store, exp_id: str, digest: str) -> None:
        """Open the search's Optuna study and settle the trials dead processes left RUNNING."""
        self.job = SearchJob(
            self.study, self.axes, exp_id, "", store.uri, digest, self.name(digest), {}, str(self.home)
        )
        self.ostudy = open_search(self.job)
        self.ostudy.set_user_attr(SPEC_ATTR, search_spec(self.study))  # what the report says the search was
        told, queued = recover(self.job, self.ostudy, store)
        self.recovered = told + queued
        if told or queued:
            print(
                f"search: {told} trial(s) left RUNNING by a dead process finished from their runs, "
                f"{queued} queued again",
                file=sys.stderr,
            )

    def finished_parent(self, store: Store, exp_id: str, digest: str) -> str | None:
        """When the budget is used and no trial is running: the parent run that lists every trial's cells."""
        from optuna.trial import TrialState

        assert self.job is not None
        running = self.ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        if self.recovered or running or next_trial_possible(self.job, self.ostudy):
            return None
        self.skipped = earlier_results(self.job, self.ostudy, store, [])
        runs = {r.run_id for r in self.skipped if r.run_id}
        return covering_parent(store.client, exp_id, runs, tag_is(Tag.SEARCH, self.job.name))

    def done_text(self, uri: str, parent: str) -> str:
        assert self.job is not None
        return (
            f"search {self.job.name} has used its budget of {self.search.trials} trials in {uri} "
            f"(parent run {parent}); raise search.trials to run more"
        )

    def parent_tags(self) -> dict[str, str]:
        from study.execution.code_identity import code_tags

        assert self.job is not None
        return {Tag.SEARCH: self.job.name, **code_tags(self.plan.cells)}

    def start(self, store: Store, exp_id: str, parent: str, digest: str, source: dict[str, str]) -> None:
        from study.execution.code_identity import log_code

        assert self.job is not None
        log_code(store, parent, self.plan.cells)
        self.job.parent_id, self.job.source = parent, source

    def execute(self) -> Generator[CellResult, None, None]:
        """The cells' results of the trials run now, from the chosen backend."""
        o, job = self.options, self.job
        assert job is not None
        if o.backend == "ray":
            from study.execution.ray_backend import run_search_on_ray

            yield from run_search_on_ray(job, o.workers, o.progress, o.ray_address, o.cpus_per_cell)
            return
        if o.workers > 1:
            from study.execution.pool import trials_in_processes

            yield from trials_in_processes(job, o.workers, o.progress)
            return
        from study.execution.local import trials_here

        yield from trials_here(job, o.progress)

    def interrupted(self, results: list[CellResult]) -> list[CellResult]:
        """After Ctrl-C nothing is added: the trials left RUNNING are settled by the next run's `recover`."""
        return []

    def close(
        self, store: Store, parent: str, results: list[CellResult], wall: float, status: str
    ) -> tuple[list[CellResult], list[Outcome]]:
        """Queue what a crashed worker left, list every trial of the search, keep the models, end the parent."""
        assert self.job is not None
        if status == "FINISHED":
            recover(self.job, self.ostudy, store)  # what a crashed worker left RUNNING is queued for the next run
        everything = sorted(
            results + earlier_results(self.job, self.ostudy, store, results), key=lambda r: r.cell.index
        )
        if status == "FINISHED" and self.search.several:  # several objectives: the Pareto front is the answer
            keep_front_models(
                store, parent, self.study, everything, tag_front(store, self.job.experiment_id, self.ostudy)
            )
        elif status == "FINISHED":
            settle_models(store, parent, self.study, results)
        finish_parent(store, parent, everything, wall, status)
        return everything, []

    def notes(self) -> list[str]:
        assert self.job is not None
        return trial_summary(self.job, self.ostudy)


def study_folder(source: str) -> Path | None:
    """The folder of the study file (its project holds a tracking server's searches), when it is a file."""
    path = Path(source)
    return path.parent if path.is_file() else None


def check_started_here(store: Store, exp_id: str, home: Path, name: str) -> None:
    """On a tracking server, refuse a search whose parent runs are there but whose Optuna study is not in this
    project: it was started from another project or machine, and continuing here would train a second budget."""
    if not is_server(store.uri) or has_study(home, name):
        return
    query = f"{tag_is(Tag.ROLE, ROLE_PARENT)} and {tag_is(Tag.SEARCH, name)}"
    if store.runs(exp_id, query):
        raise StudyError(
            f"search {name}: its runs are on {store.uri} but its Optuna study is not in {home}; it was started "
            f"from another project or machine: continue it there, or copy that project's {home.name} folder here"
        )
