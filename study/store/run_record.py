"""A run as the read model keeps it: MLflow's `Run` reduced to plain values (`.info`, `.data`, as MLflow names
them), so that what a report reads crosses to another process, and is read there, without importing MLflow
(~2.5 s), and so that a run read in bulk from SQLite costs no entity per value."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class RunInfoRecord:
    """A run's identity, state and times (ms since the epoch), as MLflow's RunInfo holds them."""

    run_id: str
    run_name: str
    experiment_id: str
    status: str
    start_time: int
    end_time: int | None
    lifecycle_stage: str = "active"
    artifact_uri: str = ""
    user_id: str = ""


@dataclass(frozen=True)
class RunDataRecord:
    """A run's tags, params and latest metric values (a NaN as NaN), as MLflow's RunData offers them."""

    tags: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class RunRecord:
    """One run: its info and its data."""

    info: RunInfoRecord
    data: RunDataRecord

    @classmethod
    def of(cls, run) -> RunRecord:
        """The record of an MLflow `Run` (a record is returned as it is)."""
        if isinstance(run, RunRecord):
            return run
        i = run.info
        info = RunInfoRecord(
            i.run_id,
            i.run_name,
            str(i.experiment_id),
            i.status,
            i.start_time,
            i.end_time,
            i.lifecycle_stage,
            i.artifact_uri,
            i.user_id or "",
        )
        return cls(info, RunDataRecord(dict(run.data.tags), dict(run.data.params), dict(run.data.metrics)))
