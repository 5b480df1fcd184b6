"""`study report`: one study run as a self-contained HTML page, CSV tables and figure PNGs.

`write_report` reads the run with `study.store.reader`, computes its statistics with
`study.analysis.statistics`, draws every applicable figure and writes `report.html`, `summary.csv` (one row
per cell), `runs.csv` (one row per cell × seed), `curves.csv` (every metric point),
`effects.csv` (every comparison) and `figures/*.png`; it then logs the report to the parent run under `report/`.

Every parent run gets its own folder, `reports/<study>/<parent run id>/`, so a new run of a study never
overwrites the report of an earlier one; `reports/<study>/latest` points at the report of the study's
newest parent run: a relative symlink, or — where the file system refuses symlinks — a copy of that folder.
Writing the report of an older parent (`--run`) leaves `latest` as it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from study.errors import StudyError
from study.reporting.context import ReportContext, build_context
from study.reporting.html import render_html
from study.reporting.rendering import start_rendering
from study.reporting.search_section import read_search
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
    comparison_html: str = "",
) -> Path:
    """Write the report of a study run (default: its latest) to out_dir and return the report.html path;
    `comparison_html` is a comparison section (study/reporting/comparison_section.py) to include."""
    uri = resolve_tracking_uri(tracking_uri)
    try:
        client = MlflowClient(tracking_uri=uri)
        experiment = find_experiment(client, study_name)
        parent = find_parent(client, experiment, parent_run_id)
        newest = find_parent(client, experiment).info.run_id == parent.info.run_id
        out = Path(out_dir) if out_dir is not None else report_dir(study_name, parent.info.run_id)
        repoint_moved_store(uri)
        ctx = build_context(
            load_study_runs(client, experiment, parent, (*CURVE_METRICS, *DIAGNOSTIC_CURVES), own_curves=True)
        )
        ctx.expectations = read_json_artifact(client, parent.info.run_id, Artifact.EXPECTATIONS)
        ctx.reproduction = read_json_artifact(client, parent.info.run_id, Artifact.REPRODUCTION)
        ctx.rounds = read_json_artifact(client, parent.info.run_id, Artifact.ROUNDS)
        ctx.search = read_search(uri, parent, ctx)
        ctx.comparison_html = comparison_html
        ctx.tracking_uri = uri
        report = _write_files(ctx, out)
        if out_dir is None and newest:
            point_latest(out)
        if log_to_parent:
            _log_to_parent(client, parent.info.run_id, out)
    except MlflowException as exc:
        first_line = next(iter(str(exc).strip().splitlines()), type(exc).__name__)
        raise StudyError(f"cannot use the MLflow store at {uri}: {first_line}") from None
    return report


REPORTS_DIR = Path("reports")
LATEST = "latest"


def report_dir(study_name: str, parent_run_id: str, root: Path = REPORTS_DIR) -> Path:
    """Where a parent run's report goes: reports/<study>/<parent run id>/."""
    return root / study_name / parent_run_id


def point_latest(out: Path) -> Path:
    """Make <study>/latest point at out (a sibling folder): a relative symlink replaced atomically, else a copy."""
    latest = out.parent / LATEST
    draft = out.parent / f".{LATEST}.{os.getpid()}"
    try:
        if draft.is_symlink() or draft.exists():
            draft.unlink()
        os.symlink(out.name, draft, target_is_directory=True)
        if latest.is_dir() and not latest.is_symlink():  # an earlier copy
            shutil.rmtree(latest)
        os.replace(draft, latest)
    except OSError:
        draft.unlink(missing_ok=True)
        if latest.is_symlink():
            latest.unlink()
        elif latest.exists():
            shutil.rmtree(latest)
        shutil.copytree(out, latest)
    return latest


def _write_files(ctx: ReportContext, out: Path) -> Path:
    """Write the figures, the CSV tables and report.html into out; return the HTML path. The statistics and
    the tables are computed and written while the figures are drawn."""
    figure_dir, report = out / "figures", out / "report.html"
    with start_rendering(ctx) as rendering:
        try:
            figure_dir.mkdir(parents=True, exist_ok=True)
            ctx.summary.to_csv(out / "summary.csv", index=False)
            ctx.per_run.to_csv(out / "runs.csv", index=False)
            ctx.effects.to_csv(out / "effects.csv", index=False)  # the HTML shows at most MAX_TABLE_ROWS of them
            ctx.study.curves.to_csv(out / "curves.csv", index=False)
            figures = rendering.figures()
            for stale in figure_dir.glob("*.png"):  # figures of an earlier report that may not apply any more
                stale.unlink()
            for figure, png in figures + (ctx.search.figures if ctx.search else []):
                (figure_dir / f"{figure.slug}.png").write_bytes(png)
            report.write_text(render_html(ctx, figures), encoding="utf-8")
        except OSError as exc:
            raise StudyError(f"cannot write the report into {out}: {exc.strerror or exc}") from None
    return report


def _log_to_parent(client: MlflowClient, parent_run_id: str, out: Path) -> None:
    """Attach report.html, summary.csv and the figures to the parent run under `report/`."""
    client.log_artifact(parent_run_id, str(out / "report.html"), Artifact.REPORT_DIR)
    client.log_artifact(parent_run_id, str(out / "summary.csv"), Artifact.REPORT_DIR)
    client.log_artifacts(parent_run_id, str(out / "figures"), "report/figures")
