"""What a user's words point at in the store: a `store=` argument as a tracking URI, and a study name
or a parent run id as a study and (optionally) one of its `study run` invocations.

Used by the Python API and the commands that take "a study or a parent run"
(`study compare`, `study rm`, `study report`): one resolution, one set of one-line errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from study.errors import StudyError
from study.store.connect import default_tracking_uri, resolve_tracking_uri
from study.store.contract import ROLE_CELL, ROLE_PARENT, Tag

if TYPE_CHECKING:  # MLflow is imported where a store is read: `store_uri` is on `study run`'s quick path
    from mlflow import MlflowClient
    from mlflow.entities import Experiment, Run

DB_FILE = "mlflow.db"  # the SQLite file inside a store directory (`mlruns/mlflow.db`)


def store_uri(store: str | os.PathLike | None, *, create: bool = False, near: str | os.PathLike | None = None) -> str:
    """The tracking URI of a `store=` argument: None is the CLI's default store; a URI (`sqlite:///…`,
    `http://…`) is used as given; a path is a store directory (`…/mlruns`, holding `mlflow.db`) or
    the `.db` file itself. None means the project's store, found from `near` (a study file) or the
    current directory. `create=False` (reading) raises StudyError for a SQLite file that is not there;
    `create=True` (writing) creates nothing either: `study run` creates its store once the input is
    valid.
    """
    if store is None:  # the project's store, found from `near` (a study file) or the current directory
        uri = default_tracking_uri(Path(near).parent if near is not None else None)
        return uri if create else resolve_tracking_uri(uri)
    text = os.fspath(store)
    if "://" in text or text.startswith("sqlite:"):
        uri = text
    else:
        path = Path(text).expanduser().resolve()
        uri = f"sqlite:///{path if path.suffix == '.db' else path / DB_FILE}"
    return uri if create else resolve_tracking_uri(uri)


@dataclass(frozen=True)
class Target:
    """A study, and one of its parent runs when the user named one (or asked for the latest)."""

    experiment: Experiment
    parent: Run | None

    @property
    def study(self) -> str:
        return self.experiment.name

    @property
    def parent_id(self) -> str | None:
        return self.parent.info.run_id if self.parent is not None else None

    def describe(self) -> str:
        """E.g. `study 'smoke'` or `run 3f2a… of study 'smoke' (smoke 2026-12-01 13:20:05)`."""
        if self.parent is None:
            return f"study {self.study!r}"
        return f"run {self.parent_id} of study {self.study!r} ({self.parent.info.run_name})"


def find_target(client: MlflowClient, text: str, *, latest: bool = True, deleted: bool = False) -> Target:
    """Resolve a study name (its latest parent run when `latest`, else the whole study) or a parent
    run id; StudyError in one line when it is neither. `deleted=True` accepts a soft-deleted parent."""
    from study.store.reader import find_parent, study_experiments

    experiment = client.get_experiment_by_name(text)
    if experiment is not None and experiment.lifecycle_stage == "active":
        return Target(experiment, find_parent(client, experiment) if latest else None)
    run = _run_or_none(client, text)
    if run is None:
        names = ", ".join(sorted(e.name for e in study_experiments(client))) or "none yet"
        raise StudyError(f"{text!r} is neither a study nor a parent run id in the MLflow store; studies: {names}")
    role = run.data.tags.get(Tag.ROLE)
    if role == ROLE_CELL:
        parent = run.data.tags.get(Tag.PARENT_RUN, "?")
        raise StudyError(f"run {text} is a cell run, not a `study run`; give its parent run {parent} or the study name")
    if role != ROLE_PARENT:
        raise StudyError(f"run {text} was not made by `study run` (it has no tag {Tag.ROLE}={ROLE_PARENT})")
    if run.info.lifecycle_stage != "active" and not deleted:
        raise StudyError(f"run {text} was deleted (`study rm {text} --purge` removes it for good)")
    return Target(client.get_experiment(run.info.experiment_id), run)


def resolve_target(client: MlflowClient, text: str, run: str | None = None) -> Target:
    """A study name or parent run id resolved to its parent run (`run`: that parent of the study named `text`);
    StudyError in one line when there is none."""
    from study.store.reader import find_experiment, find_parent

    if run is None:
        return find_target(client, text)
    experiment = find_experiment(client, text)
    return Target(experiment, find_parent(client, experiment, run))


def _run_or_none(client: MlflowClient, run_id: str) -> Run | None:
    """The run with this id (deleted ones included), None when the store has none (or the id is malformed)."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_run(run_id)
    except MlflowException:
        return None
