"""`study rm`: delete a study's runs, or one parent run and the cell runs it trained, and nothing else.

Deleting is MLflow's soft delete (`MlflowClient.delete_run`: the run is hidden, restorable with
`mlflow runs restore`); `purge` then removes the deleted runs of the target for good — their
metadata and their artifact folders — the way `mlflow gc` does for one run. `mlflow gc` itself is
not called: even given `--run-ids` it also purges every deleted experiment and every deleted logged
model of the whole store, which may belong to other studies. Models logged by the deleted runs
(MLflow logged models whose source run is one of them) are deleted and purged with them.

The experiment itself is kept (empty), so `study run` can fill it again under the same name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Run, ViewType
from mlflow.exceptions import MlflowException

from study.errors import StudyError
from study.store.claims import process_alive
from study.store.connect import retry
from study.store.contract import ROLE_PARENT, Tag, tag_is
from study.store.lookup import Target
from study.store.reader import read_manifest


@dataclass
class DeletionPlan:
    """What `study rm` is about to do: the runs it deletes (or purges) and what else refers to them."""

    target: Target
    purge: bool
    active: list[Run]  # runs that will be soft-deleted
    deleted: list[Run]  # runs already soft-deleted, purged with `purge`
    model_ids: list[str]  # logged models of those runs
    shared: dict[str, int] = field(default_factory=dict)  # other parent run id -> how many of the runs it lists
    done: bool = False

    @property
    def runs(self) -> list[Run]:
        """Every run this plan acts on: the active ones, and the deleted ones too when purging."""
        return self.active + (self.deleted if self.purge else [])

    def text(self) -> str:
        """The plan in words, shown before asking for confirmation (and after, as what was done)."""
        what = self.target.describe()
        parents = sum(r.data.tags.get(Tag.ROLE) == ROLE_PARENT for r in self.runs)
        verb = ("deleted" if self.done else "delete") if not self.purge else ("purged" if self.done else "purge")
        lines = [f"{verb} {len(self.runs)} run(s) of {what}: {parents} parent, {len(self.runs) - parents} cell"]
        if self.purge:
            lines.append("  purging removes their metrics, params and artifacts for good")
        elif self.active:
            lines.append("  soft delete: `mlflow runs restore --run-id ID` brings a run back; --purge removes for good")
        if self.model_ids:
            lines.append(f"  with the {len(self.model_ids)} model(s) they logged")
        for parent_id, n in sorted(self.shared.items()):
            lines.append(f"  note: {n} of these cell runs are also listed by parent run {parent_id} (reused there)")
        return "\n".join(lines)


def plan_deletion(client: MlflowClient, target: Target, purge: bool = False) -> DeletionPlan:
    """The runs of the target: a whole study (`target.parent` None) or one parent and its nested runs."""
    exp_id = target.experiment.experiment_id
    if target.parent is None:
        runs = _search(client, exp_id, "")
    else:
        parent_id = target.parent.info.run_id
        runs = [target.parent, *_search(client, exp_id, tag_is(Tag.PARENT_RUN, parent_id))]
    runs = [r for r in runs if r.info.experiment_id == exp_id]  # never another study's run
    active = [r for r in runs if r.info.lifecycle_stage == "active"]
    deleted = [r for r in runs if r.info.lifecycle_stage != "active"]
    _refuse_live(active)
    ids = {r.info.run_id for r in (active + deleted if purge else active)}
    plan = DeletionPlan(target, purge, active, deleted, _logged_models(client, exp_id, ids, purge))
    if target.parent is not None:
        plan.shared = _shared_with_other_parents(client, exp_id, target.parent.info.run_id, ids)
    return plan


def delete_runs(
    client: MlflowClient, plan: DeletionPlan, confirm: Callable[[DeletionPlan], bool] | None = None
) -> bool:
    """Carry the plan out after `confirm(plan)` agrees (no confirm: at once); False when declined."""
    if not plan.runs:
        return True
    if confirm is not None and not confirm(plan):
        return False
    for model_id in plan.model_ids:
        if client.search_logged_models([plan.target.experiment.experiment_id], f"model_id = '{model_id}'"):
            retry(client.delete_logged_model, model_id)
    for run in plan.active:
        retry(client.delete_run, run.info.run_id)
    if plan.purge:
        _purge(client, plan)
    plan.done = True
    return True


def _purge(client: MlflowClient, plan: DeletionPlan) -> None:
    """Remove the plan's (now deleted) runs and logged models with their artifacts, as `mlflow gc` does per run."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    backend = _backend(client)
    if not hasattr(backend, "_hard_delete_run"):
        raise StudyError(f"the MLflow store at {client.tracking_uri} cannot purge runs; they stay soft-deleted")
    for model_id in plan.model_ids:
        model = backend.get_logged_model(model_id, allow_deleted=True)
        get_artifact_repository(model.artifact_location).delete_artifacts()
        backend._hard_delete_logged_model(model_id)
    for run in plan.runs:
        get_artifact_repository(run.info.artifact_uri).delete_artifacts()
        _remove_empty_run_folder(run.info.artifact_uri)
        backend._hard_delete_run(run.info.run_id)


def _remove_empty_run_folder(artifact_uri: str) -> None:
    """A local run's `<run id>/artifacts` folder is gone after the purge: remove the empty `<run id>` above it."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("", "file"):
        return
    folder = Path(unquote(parsed.path)).parent
    if folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()


def _search(client: MlflowClient, exp_id: str, filter_string: str) -> list[Run]:
    """Every run of the experiment matching the filter, deleted ones included, across pages."""
    runs: list[Run] = []
    token = None
    while True:
        page = retry(
            client.search_runs,
            [exp_id],
            filter_string,
            run_view_type=ViewType.ALL,
            max_results=1000,
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _refuse_live(runs: list[Run]) -> None:
    """A run still being written by a live process is not deleted under its feet."""
    for run in runs:
        tag = run.data.tags.get(Tag.PROCESS, "")
        if run.info.status == "RUNNING" and process_alive(tag):
            raise StudyError(
                f"run {run.info.run_id} ({run.info.run_name}) is being trained by a live process ({tag}); "
                "wait for it to end or stop it first"
            )


def _logged_models(client: MlflowClient, exp_id: str, run_ids: set[str], purge: bool) -> list[str]:
    """The ids of the logged models whose source run is one of these runs (with `purge`, deleted ones too)."""
    if not run_ids:
        return []
    found, token = [], None
    while True:
        try:
            page = client.search_logged_models([exp_id], max_results=100, page_token=token)
        except MlflowException:  # a store without logged models (an older server): nothing to delete
            return []
        found += [m.model_id for m in page if m.source_run_id in run_ids]
        token = page.token
        if not token:
            break
    if purge:  # soft-deleted models are invisible to the search; the store itself lists them
        backend = _backend(client)
        for model_id in getattr(backend, "_get_deleted_logged_models", lambda: [])():
            model = backend.get_logged_model(model_id, allow_deleted=True)
            if model.experiment_id == exp_id and model.source_run_id in run_ids:
                found.append(model_id)
    return found


def _backend(client: MlflowClient):
    """The tracking store behind the client (MLflow's own object, as `mlflow gc` uses it)."""
    from mlflow.tracking import _get_store

    return _get_store(client.tracking_uri)


def _shared_with_other_parents(client: MlflowClient, exp_id: str, parent_id: str, ids: set[str]) -> dict[str, int]:
    """Other parent runs whose manifest lists some of these runs (cells they skipped as already finished)."""
    shared = {}
    for other in _search(client, exp_id, tag_is(Tag.ROLE, ROLE_PARENT)):
        if other.info.run_id == parent_id or other.info.lifecycle_stage != "active":
            continue
        listed = {e.get("run_id") for e in read_manifest(client, other.info.run_id) or []}
        if listed & ids:
            shared[other.info.run_id] = len(listed & ids)
    return shared
