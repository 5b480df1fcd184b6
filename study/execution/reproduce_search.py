"""`study reproduce` of a search's parent run: re-train every trial's cell from what its run recorded.

A search's trials were sampled (and, with workers or Ray, interleaved), so the search is not run again:
each cell of the parent's manifest whose run ended FINISHED (a COMPLETE trial), or KILLED as PRUNED, is
rebuilt from the parameters on its run — the sampled values under their short names, checked against the
run's config hash — and trained again into a new parent tagged `study.reproduces=<original>`. A pruned
cell is stopped at the iteration it was pruned at (`study.pruned_at`), where its histories ended, so the
two compare value for value. Failed trials and trials that never trained are not reproduced. The cells
are then compared exactly as a grid's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from typing import Any

from study.engine.callbacks import EngineCallback
from study.execution.cell import CellJob, CellResult, run_cell
from study.plan.grid import Cell
from study.plan.space import NOT_SAMPLED, Param, axis_keys, search_space, trial_cells
from study.spec.document import Study
from study.store.contract import TRIAL_COMPLETE, TRIAL_PRUNED, Artifact, Tag, param_text
from study.store.runs import Store, shared_store
from study.store.writer import BackgroundWriter


class StopAt(EngineCallback):
    """Ends training at the eval point `iteration`, as the pruner stopped the original there."""

    def __init__(self, iteration: int):
        self.iteration = iteration

    def on_epoch_end(self, epoch, logs=None) -> None:
        if logs is not None and logs["step"] >= self.iteration:
            self.stop_training = True


def reproducible(run: Any) -> tuple[bool, int | None]:
    """Whether to re-run an original trial's run, and where to stop it: FINISHED runs to the end, a pruned
    run to the iteration it stopped at; failed runs and runs a crash killed have no outcome to compare."""
    tags = run.data.tags
    if run.info.status == "FINISHED":
        return True, None
    if run.info.status == "KILLED" and tags.get(Tag.TRIAL_STATE) == TRIAL_PRUNED and tags.get(Tag.PRUNED_AT):
        return True, int(tags[Tag.PRUNED_AT])
    return False, None


def sampled_values(params: list[Param], run: Any) -> dict[str, Any] | str:
    """A trial's Optuna values from the run's params (short names), or why they cannot be read back; a
    parameter the trial did not sample (`n/a`: it took no effect there) is left out, as it was."""
    values: dict[str, Any] = {}
    for p in params:
        raw = run.data.params.get(p.name)
        if raw is None:
            return f"its run has no param {p.name!r}"
        if raw == NOT_SAMPLED:
            continue
        if p.kind == "int":
            values[p.name] = int(raw)
        elif p.kind != "choice":
            values[p.name] = float(raw)
        else:
            texts = [v["label"] if isinstance(v, dict) and v.get("label") else param_text(v) for v in p.choices]
            if raw not in texts:
                return f"its {p.name}={raw!r} is none of the search's choices"
            values[p.name] = p.labels[texts.index(raw)]
    return values


def rebuild_cell(study: Study, params: list[Param], run: Any) -> Cell | str:
    """The cell a trial's run trained, from its recorded params; a problem's text when they do not rebuild
    exactly that cell (its config hash)."""
    values = sampled_values(params, run)
    if isinstance(values, str):
        return values
    number, seed = int(run.data.tags[Tag.TRIAL]), int(run.data.params.get("seed", -1))
    cells = [c for c in trial_cells(study, params, number, values) if c.seed == seed]
    if not cells or cells[0].config_hash != run.data.tags.get(Tag.CONFIG_HASH):
        return "its recorded params do not rebuild its configuration (config hash differs)"
    return cells[0]


def plan(store: Store, study: Study, manifest: list[dict]) -> tuple[list[tuple[dict, Cell, int | None]], list]:
    """The cells to train again (manifest entry, cell, pruned iteration or None), and the entries that could
    not be rebuilt, with why."""
    params = search_space(study)
    todo, problems, seen = [], [], set()
    for entry in manifest:
        if not entry.get("run_id") or entry["run_id"] in seen:  # a repeated point lists its earlier run again
            continue
        seen.add(entry["run_id"])
        run = store.client.get_run(entry["run_id"])
        again, stop_at = reproducible(run)
        if not again:
            continue
        cell = rebuild_cell(study, params, run)
        if isinstance(cell, str):
            problems.append((entry, cell))
        else:
            todo.append((entry, cell, stop_at))
    return todo, problems


def train_again(job: CellJob, stop_at: int | None) -> CellResult:
    """Train one cell with its own writer, stopped at `stop_at` when the original was pruned there."""
    writer = BackgroundWriter()
    try:
        result = run_cell(job, writer, *([StopAt(stop_at)] if stop_at is not None else []))
        if result.status == "done" and result.run_id:
            writer.submit(shared_store(job.tracking_uri).set_tags, result.run_id, {Tag.TRIAL_STATE: TRIAL_COMPLETE})
        return result
    finally:
        writer.flush()


def train_all(jobs: list[tuple[CellJob, int | None]], workers: int) -> Iterator[CellResult]:
    """The jobs' results, in this process or in `workers` fresh ones (as `--workers` for a grid)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from (train_again(job, stop) for job, stop in jobs)
        return
    from study.execution.pool import worker_pool

    with worker_pool(workers, jobs[0][0].study.base.train.numerics) as pool:
        yield from pool.map(train_again, *zip(*jobs))


def rerun_trials(
    store: Store, original: Any, study: Study, manifest: list[dict], workers: int, progress: bool
) -> tuple[str, dict[str, str | None], list]:
    """Train the original search's trials again under a new parent; (new parent, config hash -> new run,
    problems of cells that could not be rebuilt)."""
    from study.check.study_plan import check
    from study.execution.datasets import dataset_digest
    from study.execution.parent import finish_parent
    from study.store.provenance import requirements_text, source_tags

    t0 = time.perf_counter()
    todo, problems = plan(store, study, manifest)
    cells = [cell for _, cell, _ in todo]
    if cells:
        check(study, cells)
    digest = dataset_digest(study, cells) if cells else original.data.tags.get(Tag.DATASET_DIGEST, "")
    exp_id, source = original.info.experiment_id, source_tags()
    store.mark_dead_runs(exp_id)
    axes = axis_keys(search_space(study))
    tags = {
        **source,
        Tag.CONFIG_FILE: original.data.tags.get(Tag.CONFIG_FILE, study.source),
        Tag.N_CELLS: str(len(cells)),
        Tag.AXES: json.dumps(axes),
        Tag.DATASET_DIGEST: digest,
        Tag.SEARCH: original.data.tags.get(Tag.SEARCH, ""),
        Tag.REPRODUCES: original.info.run_id,
    }
    parent = store.start_parent(exp_id, study.name, tags)
    store.log_text(parent, study.text, Artifact.STUDY_FILE)
    store.log_text(parent, requirements_text(), Artifact.REQUIREMENTS)
    n_seeds = len(study.spec.seed_list)  # trial_cells numbers trial n's cells n * seeds + k
    jobs = [
        (
            CellJob(
                study,
                cell,
                axes,
                exp_id,
                parent,
                store.uri,
                digest,
                True,
                source,
                {Tag.TRIAL: str(cell.index // n_seeds)},
            ),
            stop,
        )
        for _, cell, stop in todo
    ]
    results: list[CellResult] = []
    status = "FINISHED"
    try:
        for result in train_all(jobs, workers):
            results.append(result)
            if progress:
                print(f"{result.cell.name}: {result.status}", file=sys.stderr)
    except KeyboardInterrupt:
        status = "KILLED"
        raise
    finally:
        finish_parent(store, parent, sorted(results, key=lambda r: r.cell.index), time.perf_counter() - t0, status)
    return parent, {r.cell.config_hash: r.run_id for r in results if r.run_id}, problems
