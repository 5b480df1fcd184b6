"""`study report`: one study run as a self-contained HTML page, CSV tables and figure PNGs.

`write_report` reads the run with `study.store.reader`, computes its statistics with
`study.analysis.statistics` (study/report/context.py), draws every applicable figure
(study/report/figures.py) and writes `report.html` (study/report/html.py), `summary.csv` (one row
per cell), `runs.csv` (one row per cell × seed), `curves.csv` (every metric point) and
`figures/*.png`; it then logs the report to the parent run under `report/`.
"""

from __future__ import annotations

from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from study.errors import StudyError
from study.report.context import ReportContext, build_context
from study.report.figures import render_figures
from study.report.html import render_html
from study.report.search import read_search
from study.store.connect import repoint_moved_store, resolve_tracking_uri
from study.store.contract import Artifact
from study.store.reader import (
    CURVE_METRICS,
    DIAGNOSTIC_CURVES,
    find_experiment,
    find_parent,
    load_study_runs,
    read_json_artifact,
)


def write_report(
    study_name: str,
    out_dir: Path | None = None,
    parent_run_id: str | None = None,
    tracking_uri: str | None = None,
    log_to_parent: bool = True,
) -> Path:
    """Write the report of a study run (default: its latest) to out_dir and return the report.html path."""
    uri = resolve_tracking_uri(tracking_uri)
    out = Path(out_dir) if out_dir is not None else Path("reports") / study_name
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = find_experiment(client, study_name)
        parent = find_parent(client, experiment, parent_run_id)
        repoint_moved_store(uri)
        ctx = build_context(load_study_runs(client, experiment, parent, (*CURVE_METRICS, *DIAGNOSTIC_CURVES)))
        ctx.expectations = read_json_artifact(client, parent.info.run_id, Artifact.EXPECTATIONS)
        ctx.reproduction = read_json_artifact(client, parent.info.run_id, Artifact.REPRODUCTION)
        ctx.search = read_search(uri, parent, ctx)
        report = _write_files(ctx, out)
        if log_to_parent:
            _log_to_parent(client, parent.info.run_id, out)
    except MlflowException as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise StudyError(f"cannot use the MLflow store at {uri}: {first_line}") from None
    return report


def _write_files(ctx: ReportContext, out: Path) -> Path:
    """Write the figures, the CSV tables and report.html into out; return the HTML path."""
    figures = render_figures(ctx)
    figure_dir, report = out / "figures", out / "report.html"
    try:
        figure_dir.mkdir(parents=True, exist_ok=True)
        for stale in figure_dir.glob("*.png"):  # figures of an earlier report that may not apply any more
            stale.unlink()
        for figure, png in figures + (ctx.search.figures if ctx.search else []):
            (figure_dir / f"{figure.slug}.png").write_bytes(png)
        ctx.summary.to_csv(out / "summary.csv", index=False)
        ctx.per_run.to_csv(out / "runs.csv", index=False)
        ctx.study.curves.to_csv(out / "curves.csv", index=False)
        report.write_text(render_html(ctx, figures), encoding="utf-8")
    except OSError as exc:
        raise StudyError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    return report


def _log_to_parent(client: MlflowClient, parent_run_id: str, out: Path) -> None:
    """Attach report.html, summary.csv and the figures to the parent run under `report/`."""
    client.log_artifact(parent_run_id, str(out / "report.html"), Artifact.REPORT_DIR)
    client.log_artifact(parent_run_id, str(out / "summary.csv"), Artifact.REPORT_DIR)
    client.log_artifacts(parent_run_id, str(out / "figures"), "report/figures")
