"""The MLflow store: experiment per study, parent run per `study run`, child run per cell.

The store layout is the contract this module writes. Everything goes through an explicit
`MlflowClient` (no global "active run"), so several processes can write one store. Metrics
never go one call per value: the `MetricLogger` callback buffers a chunk's values and a
background thread sends them with `log_batch` while training goes on.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import mlflow
from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from mlflow.utils.validation import (
    MAX_ENTITIES_PER_BATCH,
    MAX_PARAM_VAL_LENGTH,
    MAX_PARAMS_TAGS_PER_BATCH,
    MAX_TAG_VAL_LENGTH,
)

from study.plan.grid import Cell, flatten_settings
from study.store.claims import (
    CLAIMS_DIR,
    Claim,
    claim_owner,
    process_alive,
    process_tag,
    server_claim,
    try_lock,
)
from study.store.connect import (
    artifact_location,
    check_store,
    default_tracking_uri,
    repoint_moved_store,
    retry,
    sqlite_path,
    tracking_uri,
)
from study.store.contract import ROLE_CELL, ROLE_PARENT, Tag, param_text, tag_is
from study.store.creation import create_sqlite_store
from study.store.provenance import common_tags
from study.store.reserve import keep_reserve

# --- the store -----------------------------------------------------------------------------


def clip(text: str, limit: int) -> str:
    """MLflow rejects params and tags over its length limits: keep the head."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def open_for_run(uri: str | None) -> Store:
    """The store a `study run` writes to: `uri`, else the project's default. Refused in one line before
    any run exists when it is read-only, full or locked; then named on stderr, and re-pointed when it
    was moved here (a store sent from elsewhere writes its artifacts here, not at the old path)."""
    uri = uri or default_tracking_uri()
    check_store(uri, writing=True)
    store = Store(uri)
    keep_reserve(store.uri)  # the space a disk-full fault gives back, to end the runs it interrupts
    print(f"store: {store.uri}", file=sys.stderr)
    store.repoint_if_moved()
    return store


class Store:
    """One MLflow store, seen through an explicit client."""

    def __init__(self, uri: str | None = None):
        self.uri = uri or tracking_uri()
        check_store(self.uri)  # MLflow would migrate any SQLite file in place: refuse what is not its store
        create_sqlite_store(self.uri)
        self.client = MlflowClient(self.uri)

    def repoint_if_moved(self) -> None:
        """Before reading or writing artifacts: make a moved store's artifact paths its own (see
        `repoint_moved_store`), with a notice the first time."""
        moved = repoint_moved_store(self.uri)
        if moved:
            print(f"this store was moved here: artifact paths of {', '.join(moved)} now point to it", file=sys.stderr)

    # experiments and lookups

    def experiment_id(self, name: str, description: str = "") -> str:
        """The study's experiment, created on first use; its description shows in the MLflow UI."""
        exp = retry(self.client.get_experiment_by_name, name)
        if exp is None:
            try:
                exp_id = retry(self.client.create_experiment, name, artifact_location(name, self.uri))
            except mlflow.exceptions.MlflowException:  # another process created it just now
                exp_id = retry(self.client.get_experiment_by_name, name).experiment_id
        else:
            exp_id = exp.experiment_id
        if description and (exp is None or exp.tags.get(Tag.NOTE) != description):
            retry(self.client.set_experiment_tag, exp_id, Tag.NOTE, description, upsert=True)
        return exp_id

    def runs(self, exp_id: str, filter_string: str) -> list:
        """Every run of the experiment matching the filter (all pages)."""
        out, token = [], None
        while True:
            page = retry(self.client.search_runs, [exp_id], filter_string, max_results=1000, page_token=token)
            out.extend(page)
            token = page.token
            if not token:
                return out

    def finished_cells(self, exp_id: str, dataset_digest: str) -> dict[str, Any]:
        """config_hash -> the latest FINISHED run of that cell on this dataset."""
        found = self.runs(exp_id, f"{tag_is(Tag.ROLE, ROLE_CELL)} and attributes.status = 'FINISHED'")
        found.sort(key=lambda r: r.info.start_time)
        return {
            r.data.tags[Tag.CONFIG_HASH]: r
            for r in found
            if r.data.tags.get(Tag.DATASET_DIGEST) in dataset_digest.split(",") and Tag.CONFIG_HASH in r.data.tags
        }

    def taken(self, exp_id: str, config_hash: str, digest: str, finished: bool = True) -> str | None:
        """Why another process's run makes this cell unnecessary now (FINISHED or live RUNNING), or None.

        `finished=False` (a `--rerun`) counts only live RUNNING runs: finished ones are to be redone.
        """
        for run in self.runs(exp_id, tag_is(Tag.CONFIG_HASH, config_hash)):
            if run.data.tags.get(Tag.DATASET_DIGEST) not in digest.split(","):
                continue
            if finished and run.info.status == "FINISHED":
                return f"finished meanwhile as run {run.info.run_id}"
            if run.info.status == "RUNNING" and process_alive(run.data.tags.get(Tag.PROCESS, "")):
                return f"being trained by another process (run {run.info.run_id})"
        return None

    def claim(self, exp_id: str, config_hash: str, digest: str) -> Claim | None:
        """This process's exclusive right to train a cell now, or None while another process holds it.

        A local SQLite store is claimed with an OS file lock beside it (claims.try_lock), a tracking
        server with a claim experiment in the store (claims.server_claim); elsewhere the claim is empty
        and `taken` is the only guard.
        """
        if self.uri.startswith(("http://", "https://")):
            return retry(server_claim, self.client, exp_id, config_hash, digest, claim_owner())
        if not self.uri.startswith("sqlite:///"):
            return Claim(None)
        folder = Path(self.uri.removeprefix("sqlite:///")).parent / CLAIMS_DIR
        folder.mkdir(exist_ok=True)
        lock = try_lock(folder / f"{exp_id}-{config_hash}-{digest}.lock")
        return None if lock is None else Claim(lock)

    def mark_dead_runs(self, exp_id: str) -> list[str]:
        """Runs left RUNNING by a process that no longer exists become KILLED, with the reason."""
        marked = []
        for run in self.runs(exp_id, "attributes.status = 'RUNNING'"):
            tag = run.data.tags.get(Tag.PROCESS, "")
            if process_alive(tag) is False:
                reason = f"the process that ran it ({tag}) ended without closing the run"
                retry(self.client.set_tag, run.info.run_id, Tag.FAILURE, reason)
                retry(self.client.set_terminated, run.info.run_id, "KILLED")
                marked.append(run.info.run_id)
        return marked

    # writing runs

    def start_parent(self, exp_id: str, name: str, tags: dict[str, str]) -> str:
        """Create the parent run of one `study run` invocation."""
        run_name = f"{name} {time.strftime('%Y-%m-%d %H:%M:%S')}"
        all_tags = {Tag.ROLE: ROLE_PARENT, Tag.NAME: name, Tag.PROCESS: process_tag(), **common_tags(), **tags}
        return retry(self.client.create_run, exp_id, run_name=run_name, tags=all_tags).info.run_id

    def start_cell(
        self,
        exp_id: str,
        parent_id: str,
        study_name: str,
        cell: Cell,
        axes: list[str],
        dataset: str,
        digest: str,
        n_classes: int,
        extra_tags: dict[str, str] | None = None,
    ) -> str:
        """Create a cell's child run with its tags (its params: `log_cell_params`; metrics come from
        MetricLogger); `extra_tags` carry what the engine settled for it (the numerics)."""
        tags = {
            Tag.PARENT_RUN: parent_id,
            Tag.ROLE: ROLE_CELL,
            Tag.NAME: study_name,
            Tag.CELL: cell.group,
            Tag.CONFIG_HASH: cell.config_hash,
            Tag.SEED: str(cell.seed),
            Tag.AXES: json.dumps(axes),
            Tag.DATASET: dataset,
            Tag.DATASET_DIGEST: digest,
            Tag.N_CLASSES: str(n_classes),
            Tag.PROCESS: process_tag(),
            **common_tags(),
            **{Tag.AXIS + short: text for short, text in cell.labels.items()},
            **(extra_tags or {}),
        }
        return retry(self.client.create_run, exp_id, run_name=cell.name, tags=tags).info.run_id

    def log_cell_params(self, run_id: str, cell: Cell, axes: list[str]) -> None:
        """A cell run's params (`cell_params`) on their own; `study run` sends them in the run's first
        metrics batch instead (study/execution/metrics.py)."""
        self.log_batch(run_id, params=cell_params(cell, axes))

    def log_metrics(self, run_id: str, metrics: list[Metric]) -> None:
        """Send metrics in batches of MLflow's maximum size."""
        self.log_batch(run_id, metrics=metrics)

    def log_batch(
        self,
        run_id: str,
        metrics: Sequence[Metric] = (),
        params: Sequence[Param] = (),
        tags: dict[str, str] | None = None,
    ) -> None:
        """Metrics, params and tags of one run in as few `log_batch` calls (one transaction each) as MLflow's
        limits allow: 100 params and 100 tags, 1,000 values in all, per call."""
        metrics, params = list(metrics), list(params)
        run_tags = [RunTag(k, clip(str(v), MAX_TAG_VAL_LENGTH)) for k, v in (tags or {}).items()]
        while metrics or params or run_tags:
            p, t = params[:MAX_PARAMS_TAGS_PER_BATCH], run_tags[:MAX_PARAMS_TAGS_PER_BATCH]
            m = metrics[: MAX_ENTITIES_PER_BATCH - len(p) - len(t)]
            params, run_tags, metrics = params[len(p) :], run_tags[len(t) :], metrics[len(m) :]
            retry(self.client.log_batch, run_id, metrics=m, params=p, tags=t, upsert=not m)  # see `retry`

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        retry(
            self.client.log_batch,
            run_id,
            tags=[RunTag(k, clip(str(v), MAX_TAG_VAL_LENGTH)) for k, v in tags.items()],
            upsert=True,
        )

    def log_text(self, run_id: str, text: str, path: str) -> None:
        retry(self.client.log_text, run_id, text, path)

    def log_files(self, run_id: str, folder: str) -> None:
        """Every file of a local folder as the run's artifacts, in one upload."""
        retry(self.client.log_artifacts, run_id, folder)

    def end(self, run_id: str, status: str = "FINISHED") -> None:
        retry(self.client.set_terminated, run_id, status)


_shared: dict[str, tuple[Store, int | None]] = {}


def shared_store(uri: str) -> Store:
    """One checked store client per store and process, shared by its cells (opening one, the store
    check and MLflow's client, cost ~0.1 s a cell); opened again when its SQLite file was replaced."""
    path = sqlite_path(uri)
    inode = path.stat().st_ino if path is not None and path.exists() else None
    known = _shared.get(uri)
    if known is not None and known[1] == inode and (path is None or inode is not None):
        return known[0]
    store = Store(uri)  # creates a missing SQLite store
    _shared[uri] = (store, path.stat().st_ino if path is not None else None)
    return store


def cell_params(cell: Cell, axes: list[str]) -> list[Param]:
    """A cell run's params: every resolved setting, the axes under their short names (a bundle axis by its
    label: its JSON is unreadable as a column), the seed."""
    params = {k: param_text(v) for k, v in flatten_settings(cell.settings).items()}
    params.update(
        {
            short: cell.labels[short] if isinstance(cell.axes[key], dict) else param_text(cell.axes[key])
            for key, short in zip(axes, cell.labels)
        }
    )
    params["seed"] = str(cell.seed)
    return [Param(k, clip(v, MAX_PARAM_VAL_LENGTH)) for k, v in params.items()]


# --- the callback --------------------------------------------------------------------------


# --- artifacts -----------------------------------------------------------------------------
