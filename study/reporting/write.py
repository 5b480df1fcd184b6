"""`study report`: one study run as a self-contained HTML page, CSV tables and figure PNGs.

`write_report` reads the run (study/reporting/store_side.py, in a process of its own where one can be
forked), computes its statistics with `study.analysis.statistics`, draws every applicable figure and writes
`report.html`, `summary.csv` (one row per cell), `runs.csv` (one row per cell × seed), `curves.csv` (every
metric point), `effects.csv` (every comparison) and `figures/*.png`; it then logs the report to the parent
run under `report/`.

Every parent run gets its own folder, `reports/<study>/<parent run id>/`, so a new run of a study never
overwrites the report of an earlier one; `reports/<study>/latest` points at the report of the study's
newest parent run: a relative symlink, or — where the file system refuses symlinks — a copy of that folder.
Writing the report of an older parent (`--run`) leaves `latest` as it is.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from study.errors import StudyError
from study.reporting.store_side import StoreSide
from study.store.connect import resolve_tracking_uri

if TYPE_CHECKING:
    from study.reporting.context import ReportContext
    from study.reporting.store_side import ReportInputs


def write_report(
    target: str,
    out_dir: Path | None = None,
    parent_run_id: str | None = None,
    tracking_uri: str | None = None,
    log_to_parent: bool = True,
    compare: str | None = None,
) -> Path:
    """Write the report of a study run to out_dir and return the report.html path. `target`: a study (its
    latest run, or its parent `parent_run_id`) or a parent run id; `compare`: another run or study (A) that
    a comparison section compares this run (B) with. With `log_to_parent`, the report is attached to the
    parent run and the parent's Description refreshed."""
    uri = resolve_tracking_uri(tracking_uri)
    with StoreSide(uri, target, parent_run_id, compare) as store:  # forked first: MLflow imports beside ours
        inputs = store.inputs()
        ctx = _context(uri, inputs)
        parent_id = ctx.study.parent.info.run_id
        out = Path(out_dir) if out_dir is not None else report_dir(ctx.study.study, parent_id)
        report = _write_files(ctx, out)
        if out_dir is None and inputs.newest:
            point_latest(out)
        if log_to_parent:
            store.log(parent_id, out)
    return report


def _context(uri: str, inputs: ReportInputs) -> ReportContext:
    """The report's context: the run's statistics, its artifacts, a search's trials and a comparison."""
    from study.reporting.context import build_context  # the report's own libraries, imported here
    from study.reporting.search_section import read_search

    ctx = build_context(inputs.runs)
    ctx.expectations, ctx.reproduction, ctx.rounds = inputs.expectations, inputs.reproduction, inputs.rounds
    ctx.search = read_search(uri, inputs.runs.parent, ctx)
    if inputs.compared is not None:
        from study.analysis.compare import compare_runs
        from study.reporting.comparison_section import comparison_section

        ctx.comparison_html = comparison_section(compare_runs(*inputs.compared))
    ctx.tracking_uri = uri
    return ctx


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
    from study.reporting.html import render_html
    from study.reporting.rendering import start_rendering

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
