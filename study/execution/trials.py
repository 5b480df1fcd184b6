"""Run a search: an Optuna study beside the store whose trials are trained as cells.

How to run what the search space says to try. Optuna's ask-and-tell interface, not `Study.optimize`:
- a trial's cells are trained by the same machinery as a grid's (claims, child runs, the background
  writer, failure isolation), and its outcome is told explicitly once its runs are in the store;
- "count the trials, then ask for one" runs under one file lock, so `--workers N`, Ray tasks and a second
  `study run` share one budget exactly (`optimize(n_trials=...)` counts per process);
- the space is declared, not discovered: `ask` gets the fixed distributions, checked before anything ran.

Resuming (`kill -9` included): a trial left RUNNING by a dead process is told COMPLETE when every one of
its cells FINISHED in the MLflow store (it died between the two), else FAIL, and its parameters are
queued again (`enqueue_trial`, tagged `study.retry_of`): no trial is lost, no finished cell re-trained.
A trial is reproducible: the sampler is re-seeded with `search.seed + trial number` before each ask.
Seeds: a trial runs one cell per seed, its value is their mean; the pruner watches the first seed's curve.
"""

from __future__ import annotations

import hashlib
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from study.errors import ConfigError
from study.execution.cell import CellJob, CellResult, run_cell, settle
from study.execution.faults import fault_point
from study.execution.trial_pruning import pruner_for, pruners
from study.plan.conditions import Space, derive
from study.plan.grid import Cell
from study.plan.space import Param, conditional, distributions, search_space, space_size, trial_cells
from study.spec.document import Study
from study.spec.search import SearchConfig, objective_value
from study.store.claims import process_alive, process_tag
from study.store.contract import TRIAL_COMPLETE, TRIAL_FAIL, TRIAL_PRUNED, Tag, tag_is
from study.store.runs import Store
from study.store.search_home import open_study, search_home, search_lock
from study.store.writer import BackgroundWriter

PROCESS_ATTR = "study.process"  # trial user attrs: the process training it (host:pid:start)
FAILURE_ATTR = "study.failure"  # why a trial FAILed as an outcome (diverged, raised): it counts
RETRY_ATTR = "study.retry_of"  # a re-queued trial: the number of the one its process left behind
RUNS_ATTR = "study.runs"  # {seed: MLflow run id} of the trial's cells
SPEC_ATTR = "study.search"  # Optuna study user attr: the `search:` section it runs (the report reads it)
REPEAT_ATTR = "study.repeat"  # a point already trained: told its earlier value, not counted in the budget
SAME_AS_ATTR = "study.same_as"  # a repeated point: the trial whose runs it reused
SPREAD_ATTR = "study.spread"  # {objective: standard deviation over the trial's seeds}, with several seeds
MAX_ASKS = 10  # a search asks at most this many times its budget (a sampler that only repeats itself ends)
WAIT_S = 2.0  # how often to look again at a cell another process is training
Value = float | list[float] | None  # what Optuna is told: one objective's value, several, or none


@dataclass
class SearchJob:
    """Everything a process needs to run trials of one search into the store (picklable)."""

    study: Study
    axes: list[str]
    experiment_id: str
    parent_id: str
    tracking_uri: str
    dataset_digest: str
    name: str  # the Optuna study's name in the store
    source: dict[str, str] = field(default_factory=dict)  # the driver's source tags (provenance.source_tags)
    home_dir: str = ""  # where its Optuna study lives (store/search_home.py search_home); "" beside a SQLite store

    @property
    def home(self) -> Path:
        """The search home, the same absolute folder in every worker (Ray tasks included)."""
        return Path(self.home_dir) if self.home_dir else search_home(self.tracking_uri)

    @property
    def search(self) -> SearchConfig:
        assert self.study.spec.search is not None
        return self.study.spec.search


# --- Optuna's pieces -----------------------------------------------------------------------------


def sampler_for(search: SearchConfig, number: int):
    """The sampler for trial `number`, seeded from the search's seed and the trial number."""
    import optuna

    seed = search.seed + number
    if search.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed)


def open_search(job: SearchJob):
    directions = [way for _, way in job.search.objectives]
    return open_study(job.home, job.name, directions, sampler_for(job.search, 0), pruner_for(job.search))


def counts_toward_budget(trial) -> bool:
    """Trials that used the budget: finished (a repeated point does not: it trained nothing), pruned, failed
    as an outcome, or being trained now."""
    from optuna.trial import TrialState

    if trial.state == TrialState.COMPLETE:
        return REPEAT_ATTR not in trial.user_attrs
    if trial.state in (TrialState.PRUNED, TrialState.RUNNING):
        return True
    return trial.state == TrialState.FAIL and FAILURE_ATTR in trial.user_attrs


# --- trials --------------------------------------------------------------------------------------


def trials(job: SearchJob, writer: BackgroundWriter) -> Iterator[tuple[int, list[CellResult]]]:
    """Ask for trials and train them until the search's budget is used: (trial number, its cells' results)."""
    ostudy, space, store = open_search(job), space_of(job), Store(job.tracking_uri)
    while (trial := next_trial(job, ostudy, space)) is not None:
        yield trial.number, run_trial(job, ostudy, store, space.params, trial, writer)


def trials_in_worker(job: SearchJob) -> list[CellResult]:
    """A worker process's share of the search: trials until the budget is used, with its own writer."""
    writer = BackgroundWriter()
    try:
        return [r for _, done in trials(job, writer) for r in done]
    finally:
        settle(writer)


def used(ostudy) -> int:
    """How much of the budget the search's trials have used."""
    return sum(counts_toward_budget(t) for t in ostudy.get_trials(deepcopy=False))


def space_of(job: SearchJob) -> Space:
    """The search's space with its conditions (study/plan/conditions.py)."""
    return derive(job.study, search_space(job.study))


def next_trial(job: SearchJob, ostudy, space: Space):
    """A new trial, or None once the budget is used; counting and asking happen under the search's lock.

    A conditional space is sampled define-by-run, deciders first: a parameter that takes no effect at the
    values sampled before it is not sampled at all."""
    with search_lock(job.home, job.name):
        existing = ostudy.get_trials(deepcopy=False)
        if not budget_left(job, existing, space):
            return None
        ostudy.sampler = sampler_for(job.search, len(existing))
        if samples_conditionally(job, space):
            trial = ostudy.ask()
            space.sampled(lambda p: suggest(trial, p))
        else:
            trial = ostudy.ask(distributions(space.params))
        trial.set_user_attr(PROCESS_ATTR, process_tag())
        return trial


def samples_conditionally(job: SearchJob, space: Space) -> bool:
    return conditional(job.study) and space.conditional


def suggest(trial, p: Param) -> Any:
    """Optuna's define-by-run suggestion for one parameter."""
    if p.kind == "choice":
        return trial.suggest_categorical(p.name, p.labels)
    if p.kind == "int":
        return trial.suggest_int(p.name, int(p.low), int(p.high), step=p.step, log=p.log)
    return trial.suggest_float(p.name, p.low, p.high, log=p.log)


def budget_left(job: SearchJob, existing: list, space: Space) -> bool:
    """Whether the search may ask for another trial: budget unused, space not exhausted, asks not used up."""
    budget = job.search.trials or 0
    spent = sum(counts_toward_budget(t) for t in existing)
    return spent < min(budget, points(job, space, budget) or budget) and len(existing) < MAX_ASKS * budget


def points(job: SearchJob, space: Space, budget: int) -> int | None:
    """How many distinct points the space has (counted up to `budget` + 1), None when it is continuous; a
    conditional space's points leave out what takes no effect."""
    if not samples_conditionally(job, space):
        return space_size(space.params)
    if any(p.kind not in ("choice", "int") for p in space.params):
        return None
    return sum(1 for _ in space.points(budget + 1))


def next_trial_possible(job: SearchJob, ostudy) -> bool:
    """Whether a new worker would find a trial to run now (a replacement for one that died)."""
    return budget_left(job, ostudy.get_trials(deepcopy=False), space_of(job))


def run_trial(job: SearchJob, ostudy, store: Store, params: list[Param], trial, writer) -> list[CellResult]:
    """Train (or reuse) the trial's cells, one per seed, then tell Optuna how it ended."""
    try:
        cells = trial_cells(job.study, params, trial.number, trial.params)
    except ConfigError as exc:  # this combination of values does not make valid settings
        tell(ostudy, trial, TRIAL_FAIL, None, str(exc))
        return []
    results: list[CellResult] = []
    try:
        for k, cell in enumerate(cells):
            callbacks = [] if k < len(cells) - 1 else pruners(job.search, store, trial, cell, results, writer)
            result = train_or_reuse(job, store, cell, trial.number, writer, callbacks)
            results.append(result)
            trial.set_user_attr(RUNS_ATTR, {str(r.cell.seed): r.run_id for r in results})
            if result.status in ("pruned", "failed", "killed"):
                break
    except KeyboardInterrupt:
        settle(writer)
        tell(ostudy, trial, TRIAL_FAIL, None, None)  # not an outcome: queued again
        ostudy.enqueue_trial(trial.params, user_attrs={RETRY_ATTR: trial.number})
        raise
    state, value, failure = outcome(job.search, results)
    if state == TRIAL_COMPLETE and len(results) > 1:  # how far the trial's value moves with the seed
        trial.set_user_attr(SPREAD_ATTR, spread(job.search, results))
    if state == TRIAL_COMPLETE and all(r.status == "skipped" for r in results):
        trial.set_user_attr(REPEAT_ATTR, True)  # the sampler proposed a trained point again: no budget used
        earlier = store.client.get_run(str(results[0].run_id)).data.tags.get(Tag.TRIAL)
        if earlier is not None and earlier != str(trial.number):
            trial.set_user_attr(SAME_AS_ATTR, int(earlier))
    for r in results:
        if r.run_id and r.status != "skipped":
            writer.submit(store.set_tags, r.run_id, {Tag.TRIAL_STATE: state})
    settle(writer)  # the runs' ends are in the store before Optuna hears of them
    tell(ostudy, trial, state, value, failure)
    return results


def spread(search: SearchConfig, results: list[CellResult]) -> dict[str, float]:
    """Each objective's standard deviation over the trial's seeds."""
    return {name: statistics.stdev(objective_value(name, r.metrics) for r in results) for name, _ in search.objectives}


def outcome(search: SearchConfig, results: list[CellResult]) -> tuple[str, Value, str | None]:
    """(state, value, failure) of a trial from its cells: the mean of each objective over its seeds."""
    last = results[-1]
    if last.status == "pruned":
        return TRIAL_PRUNED, None, None
    if last.status in ("failed", "killed"):
        return TRIAL_FAIL, None, last.failure or last.status
    return TRIAL_COMPLETE, objective_values(search, [r.metrics for r in results]), None


def objective_values(search: SearchConfig, metrics: list[dict[str, float]]) -> float | list[float]:
    """What Optuna is told of a complete trial: each objective's mean over the seeds' runs (one: a number)."""
    values = [statistics.fmean(objective_value(name, m) for m in metrics) for name, _ in search.objectives]
    return values if search.several else values[0]


def tell(ostudy, trial, state: str, value: Value, failure: str | None) -> None:
    """Tell Optuna a trial's end (`trial`: a live Trial or a number); a failure's reason is kept as its user
    attr, so it counts as an outcome."""
    from optuna.trial import TrialState

    fault_point("before-tell", getattr(trial, "number", trial))  # testing only (study/execution/faults.py)
    if failure is not None and hasattr(trial, "set_user_attr"):
        trial.set_user_attr(FAILURE_ATTR, failure[:500])
    ostudy.tell(trial, value if state == TRIAL_COMPLETE else None, state=TrialState[state])


def train_or_reuse(job: SearchJob, store: Store, cell: Cell, number: int, writer, callbacks: list) -> CellResult:
    """The cell's FINISHED run if the store has one (a repeated point, or a resumed trial), else train it;
    while another process trains the same cell, wait for its outcome."""
    while True:
        run = finished_run(store, job, cell)
        if run is not None:
            return CellResult(cell, "skipped", run.info.run_id, dict(run.data.metrics))
        cell_job = CellJob(
            job.study,
            cell,
            job.axes,
            job.experiment_id,
            job.parent_id,
            job.tracking_uri,
            job.dataset_digest,
            source=job.source,
            tags={Tag.TRIAL: str(number), Tag.EFFECTIVE_HASH: effective_hash(cell)},
        )
        result = run_cell(cell_job, writer, *callbacks)
        if result.status != "skipped":
            return result
        time.sleep(WAIT_S)


def finished_run(store: Store, job: SearchJob, cell: Cell):
    """The latest FINISHED run of this cell on this dataset, or None; sampling conditionally, also a run
    whose settings that take effect are the same (the effective hash): it would compute the same numbers."""
    tags = [(Tag.CONFIG_HASH, cell.config_hash)]
    if conditional(job.study):
        tags.append((Tag.EFFECTIVE_HASH, effective_hash(cell)))
    digests = job.dataset_digest.split(",")
    for tag, value in tags:
        query = f"{tag_is(tag, value)} and attributes.status = 'FINISHED'"
        runs = [r for r in store.runs(job.experiment_id, query) if r.data.tags.get(Tag.DATASET_DIGEST) in digests]
        if runs:
            return max(runs, key=lambda r: r.info.start_time)
    return None


def effective_hash(cell: Cell) -> str:
    """The cell's identity without its inert settings, hashed: equal for cells that compute the same numbers."""
    from study.check.preflight import effective_identity

    return hashlib.sha256(effective_identity(cell).encode()).hexdigest()[:16]


# --- resuming ------------------------------------------------------------------------------------


def recover(job: SearchJob, ostudy, store: Store) -> tuple[int, int]:
    """Trials left RUNNING by dead processes: told COMPLETE from their FINISHED cells, else FAIL and queued
    again. Under the search's lock, so no live process is between asking and naming itself. (told, queued)."""
    from optuna.trial import TrialState

    params, told, queued = search_space(job.study), 0, 0
    with search_lock(job.home, job.name):
        for t in ostudy.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            owner = t.user_attrs.get(PROCESS_ATTR)
            if owner and process_alive(owner) is not False:
                continue
            try:
                cells = trial_cells(job.study, params, t.number, t.params)
            except ConfigError:  # its values no longer make settings: ended, not queued again
                tell(ostudy, t.number, TRIAL_FAIL, None, None)
                continue
            runs = [finished_run(store, job, c) for c in cells]
            if all(runs):
                value = objective_values(job.search, [r.data.metrics for r in runs])
                for r in runs:
                    store.set_tags(r.info.run_id, {Tag.TRIAL_STATE: TRIAL_COMPLETE})
                tell(ostudy, t.number, TRIAL_COMPLETE, value, None)
                told += 1
            else:
                tell(ostudy, t.number, TRIAL_FAIL, None, None)
                ostudy.enqueue_trial(t.params, user_attrs={RETRY_ATTR: t.number})
                queued += 1
    return told, queued


def search_spec(study: Study) -> dict[str, Any]:
    """The `search:` section as JSON, with the seeds, for the Optuna study's user attrs."""
    assert study.spec.search is not None
    return {**study.spec.search.model_dump(mode="json"), "seeds": study.spec.seed_list}


def first_point(params: list[Param]) -> dict[str, Any]:
    """A point of the space (every first choice, every low bound), in Optuna's values: the data check's cell."""
    return {p.name: p.labels[0] if p.kind == "choice" else (int(p.low) if p.kind == "int" else p.low) for p in params}
