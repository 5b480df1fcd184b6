"""A grid's work for the driver: every planned cell, those already FINISHED skipped, the rest trained."""

from __future__ import annotations

import sys
from collections.abc import Generator

from study.check.expectations import Outcome
from study.check.study_plan import Plan
from study.execution.cell import CellJob, CellResult
from study.execution.faults import fault_point
from study.execution.options import RunOptions
from study.execution.parent import close_parent
from study.store.contract import Tag, tag_is
from study.store.finished import covering_parent
from study.store.runs import Store


class GridWork:
    """The cells of a grid: which to skip, the jobs for the rest, and how the parent closes (expectations,
    kept models)."""

    def __init__(self, plan: Plan, options: RunOptions):
        self.plan, self.options = plan, options
        self.study = plan.study
        self.axes = list(self.study.spec.grid)
        self.jobs: list[CellJob] = []
        self.skipped: list[CellResult] = []

    @property
    def n_cells(self) -> int:
        return len(self.plan.cells)

    def check_home(self, uri: str | None) -> None:
        """Nothing besides the store to check: a grid keeps everything in MLflow."""

    def before_writing(self, store: Store, exp_id: str, digest: str) -> None:
        """Nothing to refuse: a grid may continue in any store that holds its experiment."""

    def resume(self, store: Store, exp_id: str, digest: str) -> None:
        """Remove the model folders a killed process left; find the cells already FINISHED (unless rerun)."""
        from study.store.models import remove_orphans

        remove_orphans()
        done = {} if self.options.rerun else store.finished_cells(exp_id, digest)
        self.skipped = [
            CellResult(c, "skipped", done[c.config_hash].info.run_id, done[c.config_hash].data.metrics)
            for c in self.plan.cells
            if c.config_hash in done
        ]

    def finished_parent(self, store: Store, exp_id: str, digest: str) -> str | None:
        """When every cell is FINISHED on this data: the parent run that lists exactly those runs, if any."""
        if len(self.skipped) < self.n_cells:
            return None
        runs = {r.run_id for r in self.skipped if r.run_id}
        return covering_parent(store.client, exp_id, runs, tag_is(Tag.DATASET_DIGEST, digest))

    def done_text(self, uri: str, parent: str) -> str:
        return f"all {self.n_cells} cells are FINISHED in {uri} (parent run {parent}); --rerun trains them again"

    def parent_tags(self) -> dict[str, str]:
        """The digest of each model.builder's code (study/execution/code_identity.py)."""
        from study.execution.code_identity import code_tags

        return code_tags(self.plan.cells)

    def start(self, store: Store, exp_id: str, parent: str, digest: str, source: dict[str, str]) -> None:
        """One job per cell still to train; the model code the cells use, on the parent."""
        from study.execution.code_identity import log_code

        log_code(store, parent, self.plan.cells)
        if self.skipped:
            print(
                f"skipping {len(self.skipped)} cell(s) already FINISHED in the store (use --rerun to train them again)",
                file=sys.stderr,
            )
        done = {r.cell.config_hash for r in self.skipped}
        self.jobs = [
            CellJob(self.study, c, self.axes, exp_id, parent, store.uri, digest, self.options.rerun, source)
            for c in self.plan.cells
            if c.config_hash not in done
        ]

    def execute(self) -> Generator[CellResult, None, None]:
        """The jobs' results as they finish, from the chosen backend."""
        fault_point("before-cells")  # testing only (study/execution/faults.py)
        o = self.options
        if not self.jobs:
            return
        if o.backend == "ray":
            from study.execution.ray_backend import run_on_ray

            yield from run_on_ray(self.jobs, o.progress, o.ray_address, o.cpus_per_cell)
            return
        if o.workers > 1:
            from study.execution.pool import run_in_processes

            yield from run_in_processes(self.jobs, o.workers, o.progress)
            return
        from study.execution.local import run_here

        yield from run_here(self.jobs, o.progress)

    def interrupted(self, results: list[CellResult]) -> list[CellResult]:
        """After Ctrl-C: the cells that did not run, as killed rows."""
        ran = {r.cell.index for r in results}
        return [CellResult(j.cell, "killed") for j in self.jobs if j.cell.index not in ran]

    def close(
        self, store: Store, parent: str, results: list[CellResult], wall: float, status: str
    ) -> tuple[list[CellResult], list[Outcome]]:
        """The parent's expectations, kept models, manifest and end."""
        return results, close_parent(store, self.study, parent, results, wall, status)

    def notes(self) -> list[str]:
        return []
