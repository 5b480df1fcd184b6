"""What a search found, for the parent run and the final table: every trial's cells (earlier invocations'
included), the summary lines, and with several objectives the Pareto front: its runs tagged, its models kept.

A trial is on the front when no other complete trial is at least as good on every objective and better on
one (Optuna's `best_trials`). The front can only change by trials added, so it is written again at each
`study run`'s end: runs that left it lose the tag's `true`.
"""

from __future__ import annotations

from study.execution.cell import CellResult
from study.execution.trials import REPEAT_ATTR, RUNS_ATTR, SearchJob
from study.plan.space import search_space, trial_cells
from study.spec.document import Study
from study.spec.search import GAP
from study.store.connect import retry
from study.store.contract import Tag, tag_is
from study.store.runs import Store


def trial_summary(job: SearchJob, ostudy) -> list[str]:
    """Lines for the final table: the trials by state and the best one (several objectives: the front)."""
    from optuna.trial import TrialState

    trials = ostudy.get_trials(deepcopy=False)
    by_state = {s.name.lower(): sum(t.state == s for t in trials) for s in TrialState}
    shown = ", ".join(f"{n} {s}" for s, n in by_state.items() if n)
    repeats = sum(REPEAT_ATTR in t.user_attrs for t in trials)
    again = f"; {repeats} repeated an earlier point (not trained, not counted)" if repeats else ""
    lines = [f"search {job.name}: {len(trials)} trials ({shown}); budget {job.search.trials}{again}"]
    if not any(t.state == TrialState.COMPLETE for t in trials):
        return lines
    names = [name for name, _ in job.search.objectives]
    if not job.search.several:
        best = ostudy.best_trial
        lines.append(f"best trial {best.number}: {names[0]} {best.value:.4f} ({params_text(best.params)})")
        return lines
    front = sorted(ostudy.best_trials, key=lambda t: t.number)
    lines.append(f"Pareto front of {' vs '.join(names)}: {len(front)} trial(s), tagged {Tag.PARETO_FRONT}=true")
    for t in front:
        values = ", ".join(f"{n} {v:.4g}" for n, v in zip(names, t.values))
        lines.append(f"  trial {t.number}: {values} ({params_text(t.params)})")
    return lines


def params_text(params: dict) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items())


def earlier_results(job: SearchJob, ostudy, store: Store, mine: list[CellResult]) -> list[CellResult]:
    """The cells of the search's trials that this invocation did not run (from earlier ones), as `skipped`
    or `pruned` rows with their runs, so the parent's manifest lists the whole search."""
    from optuna.trial import TrialState

    params, seen = search_space(job.study), {r.cell.index for r in mine}
    out = []
    for t in ostudy.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)):
        runs = t.user_attrs.get(RUNS_ATTR, {})
        for cell in trial_cells(job.study, params, t.number, t.params):
            run_id = runs.get(str(cell.seed))
            if cell.index in seen or not run_id:
                continue
            run = store.client.get_run(run_id)
            status = "pruned" if t.state == TrialState.PRUNED else "skipped"
            out.append(CellResult(cell, status, run_id, dict(run.data.metrics)))
    return out


# --- the Pareto front ----------------------------------------------------------------------------


def front_runs(ostudy) -> set[str]:
    """The run ids of the Pareto front's trials (every seed's run)."""
    return {run_id for t in ostudy.best_trials for run_id in t.user_attrs.get(RUNS_ATTR, {}).values()}


def tag_front(store: Store, experiment_id: str, ostudy) -> set[str]:
    """Tag the front's runs `study.pareto_front=true`, and `false` the runs an earlier front had; its run ids."""
    front = front_runs(ostudy)
    before = {r.info.run_id for r in store.runs(experiment_id, tag_is(Tag.PARETO_FRONT, "true"))}
    for run_id in sorted(front - before):
        store.set_tags(run_id, {Tag.PARETO_FRONT: "true"})
    for run_id in sorted(before - front):
        store.set_tags(run_id, {Tag.PARETO_FRONT: "false"})
    return front


def keep_front_models(store: Store, parent: str, study: Study, results: list[CellResult], front: set[str]) -> None:
    """`keep_model: best` with several objectives keeps the front's models (a save parked beside a SQLite store
    is packaged now) and not the others'; the parent's `study.best_model` names the front's best by the
    first objective a run records (not the gap). A trial off the front never returns to it (trials are only
    added), so nothing dropped is needed later."""
    keep = study.spec.tracking.keep_model
    if keep == "none":
        return
    from study.store.models import best_run, drop, model_id
    from study.store.parked import discard_parked, log_parked, parking

    search = study.spec.search
    assert search is not None
    first = next(name for name, _ in search.objectives if name != GAP)  # one a run records
    ran = [r for r in results if r.status in ("done", "skipped") and r.run_id]
    if keep == "best":
        for r in ran:
            if r.run_id in front:
                log_parked(store.client, store.uri, str(r.run_id))  # no parked save: already uploaded
        if parking(store.uri) is not None:
            discard_parked(store.uri, [str(r.run_id) for r in ran if r.run_id not in front])
        for r in ran:
            if r.status == "done" and r.run_id not in front:
                uri = retry(store.client.get_run, r.run_id).data.tags.get(Tag.MODEL)
                drop(store.client, str(r.run_id), uri, "not kept (tracking.keep_model: best; not on the Pareto front)")
    on_front: list[tuple[str, str | None, dict[str, float]]] = [
        (r.cell.group, r.run_id, r.metrics or {}) for r in ran if r.run_id in front
    ]
    best = best_run(on_front, first)
    uri = retry(store.client.get_run, best.run_id).data.tags.get(Tag.MODEL) if best else None
    if uri and model_id(uri):
        store.set_tags(parent, {Tag.BEST_MODEL: uri, Tag.BEST_MODEL_METRIC: first})
