"""Run a study's cells as Ray tasks: on a local Ray instance, or on a cluster joined with `--address`.

Ray is an optional extra (`pip install 'study[ray]'`) and this is the only module that imports it.
Each cell is one task that declares `cpus_per_cell` CPUs and trains the cell into the store with
`run_cell_in_worker` (the pool backend), exactly as a local worker process does, so nesting, tags, skip-done,
the dataset digest check and failure isolation are the same as with the local backend. What Ray
adds is handled here:

- a task that raises outside the cell's own error handling, or whose worker dies (killed, out of
  memory, node lost), becomes a failed cell, and the run it left RUNNING is closed — FAILED for an
  exception, KILLED for a lost worker — with the reason in `study.failure`; tasks are never retried,
  so a re-run of the study trains exactly what is missing;
- Ctrl-C cancels the outstanding tasks: queued ones never start, running ones are killed, and the
  driver closes their runs KILLED.

A local instance (no address) binds every Ray service to 127.0.0.1 and uses this machine's CPUs.
"""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqdm import tqdm

from study.data.idx import DATA_DIR_ENV
from study.errors import StudyError
from study.execution.cell import CellJob, CellResult, error_summary
from study.execution.pool import init_worker, run_cell_in_worker
from study.store.contract import Tag, tag_is
from study.store.runs import Store

# Ray's single-machine mode, read when `ray` is imported: "0" keeps a local instance on the
# loopback address instead of the machine's network address.
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"
AUTH_MODE_ENV = "RAY_AUTH_MODE"  # Ray never sends its token to an explicit address unless this says "token"
PROBE_TIMEOUT_S = 5.0  # how long to wait for the cluster's address to accept a connection
CANCEL_GRACE_S = 10.0  # after Ctrl-C, how long to wait for the killed tasks to end
DEATH_WAIT_S = 3.0  # after a task died, how long to wait for its worker process to be gone

_owned = False  # True while this process is connected to a Ray instance it started (and must shut down)


# --- the driver ----------------------------------------------------------------------------


def connect(address: str | None, cpus_per_cell: float, runtime_env: dict | None = None) -> None:
    """Join the cluster at `address`, or start a local instance; StudyError when no cell could run.
    `runtime_env`: what the study's tasks need shipped (a model.builder's code, code_identity.py); Ray takes
    local modules at the job level only, so it is given when this process first connects."""
    global _owned
    if not cpus_per_cell > 0:
        raise StudyError(f"--cpus-per-cell: {cpus_per_cell:g} is not a positive number of CPUs")
    if on_loopback(address) and "ray" not in sys.modules:
        os.environ.setdefault(LOOPBACK_ENV, "0")
    try:
        import ray
    except ImportError:
        raise StudyError("--backend ray: Ray is not installed; install the extra: pip install 'study[ray]'") from None
    if not ray.is_initialized():
        if address:
            probe(address)
        try:
            ray.init(
                address or "local",
                include_dashboard=False,
                log_to_driver=False,
                logging_level=logging.ERROR,
                runtime_env=runtime_env or None,
            )
        except Exception as exc:  # ConnectionError, ValueError, RuntimeError, depending on what is wrong
            where = f"the Ray cluster at {address!r}" if address else "a local Ray instance"
            hint = (
                ""
                if not address or os.environ.get(AUTH_MODE_ENV)
                else (f"; a cluster with token authentication also needs {AUTH_MODE_ENV}=token (see docs/ray.md)")
            )
            raise StudyError(f"--address: cannot connect to {where}: {error_summary(exc)}{hint}") from None
        _owned = address is None
    cpus = ray.cluster_resources().get("CPU", 0.0)
    if cpus_per_cell > cpus:
        raise StudyError(
            f"--cpus-per-cell: {cpus_per_cell:g} is more than the {cpus:g} CPUs of the Ray cluster; "
            "no cell could ever start"
        )


def probe(address: str) -> None:
    """Fail at once when nothing listens at the address: Ray itself retries for minutes before it gives up."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not port.isdigit():
        return  # "auto" and the like: Ray resolves them
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=PROBE_TIMEOUT_S).close()
    except OSError as exc:
        raise StudyError(
            f"--address: nothing answers at {address!r} ({exc.strerror or exc}); "
            "start the cluster with `ray start --head` or check the address"
        ) from None


def on_loopback(address: str | None) -> bool:
    """Whether Ray should run on 127.0.0.1: a local instance, or a cluster addressed through loopback.

    A driver must see itself at the address its cluster's nodes use, else it waits for a raylet on
    its own network address that never comes.
    """
    if address is None:
        return True
    host = address.removeprefix("ray://").rsplit(":", 1)[0].strip("[]")
    return host == "localhost" or host == "::1" or host.startswith("127.")


def disconnect() -> None:
    """Shut down the local instance this process started; a joined cluster keeps running."""
    global _owned
    if _owned:
        import ray

        ray.shutdown()
        _owned = False


def run_on_ray(jobs: list[CellJob], progress: bool, address: str | None, cpus_per_cell: float) -> Iterator[CellResult]:
    """Results of the jobs as their Ray tasks finish, with a cells-done progress bar."""
    import ray

    connect(address, cpus_per_cell)
    task = ray.remote(train_cell)
    threads, driver = max(1, int(cpus_per_cell)), driver_context()
    pending = {
        task.options(num_cpus=cpus_per_cell, max_retries=0, name=job.cell.name).remote(job, threads, driver): job
        for job in jobs
    }
    store = Store(jobs[0].tracking_uri)  # execute() never calls with no jobs
    try:
        with tqdm(total=len(jobs), unit="cell", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                job = pending.pop(ready[0])
                result = collect(ready[0], job, store)
                bar.set_postfix_str(f"{job.cell.name}: {result.status}")
                bar.update(1)
                yield result
    except BaseException:  # Ctrl-C, or the caller stopped iterating
        cancel(pending, store)
        raise
    finally:
        disconnect()


def driver_context() -> dict[str, str | None]:
    """What a worker takes over from the driver: its working directory and its data directory."""
    return {"cwd": os.getcwd(), "data_dir": os.environ.get(DATA_DIR_ENV)}


def collect(ref: Any, job: CellJob, store: Store) -> CellResult:
    """The task's CellResult; a task that raised or lost its worker is a failed cell, its run closed."""
    import ray

    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = exc.cause if isinstance(exc.cause, BaseException) else exc
        status, reason = "FAILED", f"the Ray task failed: {error_summary(cause)}"
    except ray.exceptions.RayError as exc:  # WorkerCrashedError, OutOfMemoryError, NodeDiedError, …
        status, reason = "KILLED", f"the Ray worker died: {error_summary(exc)}"
    run_id = close_left_run(store, job, status, reason)
    return CellResult(job.cell, "failed", run_id, failure=reason)


def close_left_run(store: Store, job: CellJob, status: str, reason: str) -> str | None:
    """End the cell's run of this parent if its task left it RUNNING; returns its id, if it has one."""
    query = f"{tag_is(Tag.PARENT_RUN, job.parent_id)} and {tag_is(Tag.CONFIG_HASH, job.cell.config_hash)}"
    runs = store.runs(job.experiment_id, query)
    for run in runs:
        if run.info.status == "RUNNING":
            store.set_tags(run.info.run_id, {Tag.FAILURE: reason})
            store.end(run.info.run_id, status)
    return runs[0].info.run_id if runs else None


def cancel(pending: dict[Any, CellJob], store: Store) -> None:
    """Kill the outstanding tasks and close the runs they leave RUNNING.

    Killing outright, without Ray's graceful cancel first: in testing on Ray 2.60, a graceful cancel
    meeting a task that was already ending from the terminal's own SIGINT crashed the driver (a
    task-manager check failure). A killed cell loses at most its last unsent metrics.
    """
    import ray

    if not pending:
        return
    _, running = ray.wait(list(pending), num_returns=len(pending), timeout=0)
    for ref in running:
        ray.cancel(ref, force=True)
    try:
        if running:
            ray.wait(running, num_returns=len(running), timeout=CANCEL_GRACE_S)  # until the workers are gone
    except KeyboardInterrupt:  # a second Ctrl-C: no more waiting
        pass
    for job in pending.values():
        close_left_run(store, job, "KILLED", "interrupted by the user")


def run_search_on_ray(
    job: Any, workers: int, progress: bool, address: str | None, cpus_per_cell: float
) -> Iterator[CellResult]:
    """A search's trials as Ray tasks, each asking the shared Optuna storage until the budget is used:
    `workers` tasks, or (with one) as many as the cluster has room for.

    A task whose worker dies leaves its trial RUNNING and its cell run RUNNING: the driver closes the run
    KILLED, settles the trial (`recover`: queued again) and, while budget is left, starts a task in its
    place, so the search ends with its budget met, no trial lost and none trained twice."""
    import ray

    connect(address, cpus_per_cell)
    room = int(ray.cluster_resources().get("CPU", 1.0) // cpus_per_cell)
    n = max(1, min(workers if workers > 1 else room, job.search.trials or 1))
    task = ray.remote(search_trials)
    threads, driver = max(1, int(cpus_per_cell)), driver_context()
    started = 0

    def launch() -> Any:
        nonlocal started
        started += 1
        return task.options(num_cpus=cpus_per_cell, max_retries=0, name=f"search {started}").remote(
            job, threads, driver
        )

    pending = [launch() for _ in range(n)]
    try:
        with tqdm(total=n, unit="worker", disable=not progress, dynamic_ncols=True, file=sys.stderr) as bar:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    yield from ray.get(ready[0])
                except ray.exceptions.RayError as exc:
                    print(f"a search task failed: {error_summary(exc)}", file=sys.stderr)
                    if settle_lost_trials(job):
                        pending.append(launch())
                        bar.total += 1
                bar.update(1)
    except BaseException:  # Ctrl-C: kill the tasks; their trials are settled by the next run's `recover`
        for ref in pending:
            ray.cancel(ref, force=True)
        raise
    finally:
        disconnect()


def settle_lost_trials(job: Any) -> bool:
    """After a task died: close the runs dead processes left RUNNING, queue their trials again (under the
    search's lock); whether budget is left for a task in the lost one's place."""
    from study.execution.trials import next_trial_possible, open_search, recover

    store = Store(job.tracking_uri)
    close_dead_runs(store, job.experiment_id)
    ostudy = open_search(job)
    recover(job, ostudy, store)
    return next_trial_possible(job, ostudy)


def close_dead_runs(store: Store, exp_id: str, wait_s: float = DEATH_WAIT_S) -> None:
    """Mark the runs of dead processes KILLED, waiting a moment for one: Ray can report a worker dead
    (its connection closed) while the kernel still shows the exiting process running."""
    deadline = time.monotonic() + wait_s
    while not store.mark_dead_runs(exp_id) and time.monotonic() < deadline:
        time.sleep(0.1)


# --- the worker ----------------------------------------------------------------------------


def search_trials(job: Any, threads: int, driver: dict[str, str | None]) -> list[CellResult]:
    """The Ray task of a search: the driver's paths, shared cores, then trials until the budget is used."""
    from study.execution.trials import trials_in_worker

    adopt(driver)
    init_worker(job.study.base.train.numerics, threads)
    return trials_in_worker(job)


def train_cell(job: CellJob, threads: int, driver: dict[str, str | None]) -> CellResult:
    """The Ray task: take the driver's paths where this node has them, share the cores, train the cell."""
    adopt(driver)
    init_worker(job.cell.settings.train.numerics, threads)  # a reused worker keeps (and reports) its pools
    return run_cell_in_worker(job)


def adopt(driver: dict[str, str | None]) -> None:
    """Work in the driver's directory, and read its data directory, when they exist on this node.

    On the driver's machine this makes relative paths (`data.dir`) and the `git.commit` tag mean what
    they mean locally; on another node its own STUDY_DATA_DIR wins, and the digest check catches a
    dataset that differs.
    """
    cwd, data_dir = driver.get("cwd"), driver.get("data_dir")
    if cwd and Path(cwd).is_dir():
        os.chdir(cwd)
    if data_dir and not os.environ.get(DATA_DIR_ENV) and Path(data_dir).is_dir():
        os.environ[DATA_DIR_ENV] = data_dir
