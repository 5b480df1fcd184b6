"""What the Python API returns: a run's result (`RunResult`, shown as a table in a notebook) and the best
model loaded with its run (`BestModel`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import pandas as pd
    from mlflow.entities import Run

    from study.execution.parent import StudyResult


@dataclass
class RunResult:
    """What `study.run` did: the parent run, one row per cell in `cells`, the `expect:` checks."""

    study: str
    parent_run_id: str | None
    store: str  # the tracking URI written to
    cells: pd.DataFrame  # cell, seed, axis.*, status (done/skipped/failed/killed), run_id, metrics, failure
    expectations: pd.DataFrame  # expectation, cell, metric, low, high, value, source, met
    wall_time_s: float
    exit_code: int  # the CLI's: 0 all done and expectations met, 1 a cell failed or an expectation not met
    table: str  # the final table `study run` prints
    report_path: Path | None = None  # report.html, when run with report=True

    @property
    def ok(self) -> bool:
        """Every cell finished (or was already) and every expectation was met."""
        return self.exit_code == 0

    @property
    def failed(self) -> list[str]:
        """Names of the cells that failed, with seeds (`relu · he · seed 0`)."""
        rows = self.cells[self.cells["status"] == "failed"]
        return [f"{c} · seed {s}" for c, s in zip(rows["cell"], rows["seed"])]

    def __str__(self) -> str:
        return self.table

    def _repr_html_(self) -> str:  # how a notebook shows it
        head = f"<p>study <b>{self.study}</b>, parent run <code>{self.parent_run_id}</code>: "
        head += f"{'ok' if self.ok else 'NOT ok'}, {len(self.cells)} cells, {self.wall_time_s:.1f} s</p>"
        return head + self.cells.to_html(index=False, na_rep="")


@dataclass(frozen=True)
class BestModel:
    """What `study.best_model` returns: the loaded Keras model, the cell run that trained it, and the summary
    metric that chose it with that run's value of it."""

    model: keras.Model
    run: Run  # MLflow's: run.info.run_id, run.data.params, run.data.metrics, run.data.tags
    metric: str
    value: float

    @property
    def uri(self) -> str:
        """The model's `models:/<model_id>`: `mlflow.keras.load_model(uri)` loads it again."""
        return self.run.data.tags["study.model"]


def stored_report(outcome: RunResult) -> str | None:
    """Where the report the run's parent holds already is (with nothing left to train, `run` returns an
    earlier parent): a local path, or a URL for a tracking server's store; None without one."""
    from mlflow import MlflowClient

    from study.store.finished import stored_report as attached

    return attached(MlflowClient(outcome.store), outcome.parent_run_id) if outcome.parent_run_id else None


def run_result(result: StudyResult, uri: str) -> RunResult:
    """The runner's result as a RunResult with DataFrames."""
    import pandas as pd

    from study.check.expectations import as_records
    from study.execution.driver import final_table
    from study.store.reader import SUMMARY_METRICS

    rows = [
        {
            "cell": r.cell.group,
            "seed": r.cell.seed,
            **{f"axis.{k}": v for k, v in r.cell.labels.items()},
            "status": r.status,
            "run_id": r.run_id,
            **{m: (r.metrics or {}).get(m, float("nan")) for m in SUMMARY_METRICS},
            "failure": r.failure,
            "config_hash": r.cell.config_hash,
        }
        for r in result.results
    ]
    columns = ["expectation", "cell", "metric", "low", "high", "value", "source", "met"]
    return RunResult(
        study=result.study,
        parent_run_id=result.parent_id,
        store=uri,
        cells=pd.DataFrame(rows),
        expectations=pd.DataFrame(as_records(result.expectations), columns=columns),
        wall_time_s=result.wall_time_s,
        exit_code=result.exit_code,
        table=final_table(result),
    )
