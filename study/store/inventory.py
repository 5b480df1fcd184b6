"""`study list`: the studies in the store, their parent runs and how their cells ended."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from study.store.connect import default_tracking_uri, sqlite_path
from study.store.contract import ROLE_CELL, ROLE_PARENT, Metric, Tag
from study.store.reader import study_experiments
from study.store.runs import Store


def list_store(store: Store | None = None) -> str:
    """A text table: one block per study (experiment), one line per parent run, newest first. Reading
    creates nothing: where the default store's file is missing, it says so."""
    if store is None:
        uri = default_tracking_uri()
        path = sqlite_path(uri)
        if path is not None and not path.exists():  # a directory or a non-store there is refused by Store
            return f"no studies in {uri} yet (no store there): run `study run configs/smoke.yaml`"
        store = Store(uri)
    experiments = study_experiments(store.client)
    if not experiments:
        return f"no studies in {store.uri} yet: run `study run configs/smoke.yaml`"
    lines: list[str] = []  # the command names the store on stderr (cli.announce_store)
    for exp in sorted(experiments, key=lambda e: e.name):
        runs = store.runs(exp.experiment_id, "")
        cells = [r for r in runs if r.data.tags.get(Tag.ROLE) == ROLE_CELL]
        parents = sorted(
            (r for r in runs if r.data.tags.get(Tag.ROLE) == ROLE_PARENT), key=lambda r: r.info.start_time, reverse=True
        )
        status = Counter(r.info.status for r in cells)
        summary = ", ".join(f"{n} {s.lower()}" for s, n in sorted(status.items()))
        noun = "study run" if len(parents) == 1 else "study runs"
        lines.append(f"\n{exp.name}  ({len(parents)} {noun}; cell runs: {summary or 'none'})")
        for p in parents:
            when = datetime.fromtimestamp(p.info.start_time / 1000).strftime("%Y-%m-%d %H:%M:%S")
            children = [r for r in cells if r.data.tags.get(Tag.PARENT_RUN) == p.info.run_id]
            wall = p.data.metrics.get(Metric.WALL_TIME)
            took = f"{wall:7.1f}s" if wall is not None else "       "
            lines.append(
                f"  {when}  {p.info.run_id}  {p.info.status:<8} {took}  "
                f"{len(children)} new of {p.data.tags.get(Tag.N_CELLS, '?')} runs"
            )
    return "\n".join(lines).lstrip("\n")
