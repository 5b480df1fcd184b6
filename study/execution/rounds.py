"""A grid with adaptive seeds (`seeds: {min, max, until: resolved}`): it trains in rounds, each just more cells.

Round 1 is every cell at seeds 0..min-1. After each round the comparisons are read with anytime-valid
confidence sequences (study.plan.sequential) and only the cells of the comparisons not yet resolved get
their next seed. The sequence of decisions is a pure function of the stored results: a rerun (after kill -9
mid-round, or of a finished study) replays the decisions from the FINISHED cells and trains only what the
current round still lacks, so no finished cell is trained twice. Every round's decision is written to the
parent run as `rounds.json` (and the tag `study.rounds`) as soon as it is taken.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Generator

from study.check.expectations import Outcome
from study.check.study_plan import Plan
from study.execution.cell import CellJob, CellResult
from study.execution.faults import fault_point
from study.execution.grid_work import GridWork
from study.execution.options import RunOptions
from study.plan.seed_rounds import decision_record, seed_plan, values_of
from study.plan.sequential import Decision, decide, family, start_seeds
from study.store.contract import Artifact, Tag
from study.store.runs import Store


class RoundsWork(GridWork):
    """A grid whose seeds come in rounds: the driver's GridWork, with `resume` replaying the decisions and
    `execute` training round after round until the design stops."""

    def __init__(self, plan: Plan, options: RunOptions):
        super().__init__(plan, options)
        adaptive = self.study.spec.adaptive
        assert adaptive is not None
        self.seed_plan = seed_plan(self.study, adaptive)
        self.family = family(self.seed_plan.labels, within=adaptive.compare == "within")
        self.seeds = start_seeds(self.seed_plan.groups, self.seed_plan.design)
        self.metrics: dict[str, dict[str, float]] = {}  # config hash -> summary metrics of its FINISHED run
        self.records: list[dict] = []
        self.tried: set[str] = set()  # config hashes this invocation ran (a failed cell is not retried here)
        self.finished = False  # the design has stopped
        self.store: Store | None = None
        self.parent: str | None = None

    @property
    def n_cells(self) -> int:
        return sum(self.seeds.values())

    def resume(self, store: Store, exp_id: str, digest: str) -> None:
        """Replay the decisions the FINISHED cells already decide; skipped = the finished cells they call for."""
        from study.store.models import remove_orphans

        remove_orphans()
        done = {} if self.options.rerun else store.finished_cells(exp_id, digest)
        self.metrics = {h: dict(run.data.metrics) for h, run in done.items()}
        while not self.finished and all(c.config_hash in done for c in self.seed_plan.wanted(self.seeds)):
            self.decide_round()
        self.skipped = [
            CellResult(c, "skipped", done[c.config_hash].info.run_id, self.metrics[c.config_hash])
            for c in self.seed_plan.wanted(self.seeds)
            if c.config_hash in done
        ]

    def decide_round(self) -> Decision:
        """Read the current round's values and take the next seed counts (the design stops when none change)."""
        values = values_of(self.seed_plan, self.seeds, self.metrics)
        decision = decide(self.family, values, self.seeds, self.seed_plan.design)
        self.records.append(decision_record(len(self.records) + 1, decision, self.seed_plan))
        self.finished = decision.done
        self.seeds = decision.next_seeds
        return decision

    def finished_parent(self, store: Store, exp_id: str, digest: str) -> str | None:
        """Only once the replay says the design has stopped can a parent already list every run."""
        return super().finished_parent(store, exp_id, digest) if self.finished else None

    def done_text(self, uri: str, parent: str) -> str:
        return f"the adaptive design has stopped: all {self.n_cells} runs are FINISHED in {uri} (parent run {parent})"

    def start(self, store: Store, exp_id: str, parent: str, digest: str, source: dict[str, str]) -> None:
        """Jobs for what the current round still lacks; the replayed decisions go on the parent at once."""
        super().start(store, exp_id, parent, digest, source)
        self.store, self.parent = store, parent
        self.job_args = (exp_id, parent, store.uri, digest, source)
        self.jobs = self.jobs_for_round()
        self.record()

    def jobs_for_round(self) -> list[CellJob]:
        """A job per cell the seed counts call for that has no FINISHED run yet."""
        exp_id, parent, uri, digest, source = self.job_args
        return [
            CellJob(self.study, c, self.axes, exp_id, parent, uri, digest, self.options.rerun, source)
            for c in self.seed_plan.wanted(self.seeds)
            if c.config_hash not in self.metrics and c.config_hash not in self.tried
        ]

    def execute(self) -> Generator[CellResult, None, None]:
        """Round after round: train the round's jobs on the chosen backend, decide, record, go on."""
        while not self.finished:
            for result in super().execute():
                self.tried.add(result.cell.config_hash)
                if result.status in ("done", "skipped") and result.metrics:
                    self.metrics[result.cell.config_hash] = result.metrics
                yield result
            decision = self.decide_round()
            self.record()
            print(f"round {len(self.records)}: {decision.reason}", file=sys.stderr)
            fault_point("round", len(self.records))  # testing only (study/execution/faults.py)
            self.jobs = [] if self.finished else self.jobs_for_round()

    def record(self) -> None:
        """rounds.json and `study.rounds` on the parent: every decision so far; `study.n_cells`: the runs they
        call for."""
        if self.store is None or self.parent is None or not self.records:
            return
        text = json.dumps(self.records, indent=1, ensure_ascii=False)
        self.store.log_text(self.parent, text, Artifact.ROUNDS)
        last = self.records[-1]
        state = "stopped" if self.finished else "running"
        rounds = f"{len(self.records)} rounds, {state}: {last['reason']}"
        self.store.set_tags(self.parent, {Tag.ROUNDS: rounds, Tag.N_CELLS: str(self.n_cells)})

    def close(
        self, store: Store, parent: str, results: list[CellResult], wall: float, status: str
    ) -> tuple[list[CellResult], list[Outcome]]:
        """The parent closes as a grid's does, its rounds recorded."""
        self.record()
        return super().close(store, parent, results, wall, status)

    def notes(self) -> list[str]:
        if not self.records:
            return []
        last = self.records[-1]
        return [f"adaptive seeds: {len(self.records)} round(s), {last['runs']} runs; {last['reason']}"]
