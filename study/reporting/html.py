"""The report as one self-contained HTML page: its sections, tables and CSS (screen and print), the
figures embedded as base64 PNG, no external resource."""

from __future__ import annotations

import base64
from datetime import datetime

import pandas as pd

from study.analysis.statistics import SPEED_FRACTIONS
from study.plan.grid import run_count
from study.reporting.answer import answer
from study.reporting.context import ReportContext, ReportFigure
from study.reporting.findings import findings, mean_ci
from study.reporting.html_effects import effects_section, factor_section, replicates_section
from study.reporting.html_parts import bullet_list, duration, esc, fmt, section, swatch, table, timestamp
from study.reporting.many_cells import truncated
from study.reporting.models_section import models_section
from study.reporting.rounds_section import rounds_section
from study.reporting.search_section import search_section
from study.reporting.settings_section import settings_section
from study.store.contract import Tag
from study.store.reader import FINISHED
from study.version import __version__

_SUMMARY_COLUMNS = (  # header, statistic, format of the mean, format of the CI half-width
    ("Final test acc", "final_test_acc", "{:.3f}", "{:.3f}"),
    ("Best test acc", "best_test_acc", "{:.3f}", "{:.3f}"),
    ("Final train acc", "final_train_acc", "{:.3f}", "{:.3f}"),
    ("Train − test gap", "gap", "{:+.3f}", "{:.3f}"),
    ("Iterations to 50 %", "iters_to_50pct", "{:,.0f}", "{:,.0f}"),
    ("Iterations to 90 %", "iters_to_90pct", "{:,.0f}", "{:,.0f}"),
    ("Wall time (s)", "wall_time_s", "{:,.1f}", "{:,.1f}"),
)
_GRAD_RATIO_COLUMN = ("Grad ratio first/last", "grad_ratio", "{:.2e}", "{:.1e}")  # only with diagnostics

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#222;
 line-height:1.45;max-width:78rem;margin:2rem auto;padding:0 1rem}
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.2rem}
h3{margin:1.4rem 0 .4rem}.meta,figcaption,.note{color:#555;font-size:.9rem}.description{white-space:pre-line}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.2rem 1.2rem}dt{font-weight:600}dd{margin:0}
table{border-collapse:collapse;font-size:.88rem;margin:.4rem 0}
th,td{padding:.25rem .6rem;border-bottom:1px solid #e4e4e4;text-align:left;vertical-align:top}
thead th{background:#f3f3f3}.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.num{white-space:normal}
tr.failed td{color:#a02c2c}code{font-size:.85em}
.swatch{display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:.45em}
figure{margin:1.2rem 0}figure img{max-width:100%;height:auto}
summary{cursor:pointer;color:#444;margin:.6rem 0}.verdict-resolved{font-weight:600}
.answer{font-size:1.08rem;max-width:60rem;margin:.45rem 0}
@page{margin:14mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:9.5pt}h2,h3{break-after:avoid}
 figure,tr{break-inside:avoid}.swatch{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""


def render_html(ctx: ReportContext, figures: list[tuple[ReportFigure, bytes]]) -> str:
    """The whole report as one HTML document with its figures embedded: the answers first (findings,
    the summary table), then what was run and its settings, the statistics, the figures, every run."""
    title = f"Study report: {ctx.study.study}"
    body = "\n".join(
        [
            _header(ctx),
            _answer(ctx),
            _expectations(ctx),
            _reproduction(ctx),
            ctx.comparison_html,
            search_section(ctx),  # a search's trials (study/reporting/search_section.py); empty for a grid
            rounds_section(ctx),  # adaptive seeds (study/reporting/rounds_section.py); empty otherwise
            section("Findings", bullet_list(findings(ctx))),
            section("Summary per cell", _summary_table(ctx)),
            section("What was run", _what_was_run(ctx)),
            settings_section(ctx),
            effects_section(ctx),
            section("Is the ranking resolved?", replicates_section(ctx)),
            factor_section(ctx),
            section("Figures", "\n".join(_figure(figure, png) for figure, png in figures)),
            models_section(ctx),  # study/reporting/models_section.py: kept models, the best cell's mistakes
            section("All runs", _runs_table(ctx)),
        ]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _header(ctx: ReportContext) -> str:
    """Title and which run the report is about."""
    parent = ctx.study.parent.info
    meta = (
        f"Study run {esc(parent.run_name)} (MLflow run <code>{esc(parent.run_id)}</code>), "
        f"started {timestamp(parent.start_time)}. "
        f"Report generated {datetime.now():%Y-%m-%d %H:%M} by study {__version__}."
    )
    return f'<header><h1>Study: {esc(ctx.study.study)}</h1><p class="meta">{meta}</p></header>'


def _answer(ctx: ReportContext) -> str:
    """The first screen: at most three sentences that answer the study's question, with their evidence."""
    sentences = answer(ctx)
    if not sentences:
        return ""
    return section("Answer", "".join(f'<p class="answer">{esc(s)}</p>' for s in sentences))


def _expectations(ctx: ReportContext) -> str:
    """The study's `expect:` ranges and whether each cell met them (nothing when the study has none)."""
    if not ctx.expectations:
        return ""
    met = sum(o["met"] for o in ctx.expectations)
    rows = [
        [
            esc(f"expect[{o['expectation']}]"),
            esc(o["cell"]),
            esc(o["metric"]),
            esc("—" if o["value"] is None else f"{o['value']:.4f}"),
            esc(f"[{o['low']:g}, {o['high']:g}]"),
            "met" if o["met"] else "<strong>NOT MET</strong>",
            esc(o.get("source", "")),
        ]
        for o in ctx.expectations
    ]
    checks = table(["expectation", "cell", "metric", "value", "range", "", "source"], rows, numeric=range(3, 5))
    return section(f"Expected results: {met} of {len(ctx.expectations)} met", checks)


def _reproduction(ctx: ReportContext) -> str:
    """When this run reproduces another: each cell's verdict and what differs in the environment."""
    rep = ctx.reproduction
    if not rep:
        return ""
    rows, env = [], {}
    for c in rep["cells"]:
        moved = ", ".join(f"{k} {v:.3g}" for k, v in c["max_abs_diff"].items() if v) or "—"
        acc = "—" if c["final_test_acc_diff"] is None else f"{c['final_test_acc_diff']:+.4f}"
        verdict = (
            "identical"
            if c["identical"]
            else f"<strong>differs</strong>{': ' + esc(c['problem']) if c['problem'] else ''}"
        )
        rows.append([esc(c["name"]), verdict, esc(moved), esc(acc)])
        env.update(c["environment"])
    same = sum(c["identical"] for c in rep["cells"])
    intro = (
        f"<p>This run reproduces run <code>{esc(rep['original_parent'])}</code>: {same} of {len(rep['cells'])} "
        "cells came back bit-identical.</p>"
    )
    verdicts = table(["cell", "verdict", "largest |difference| per metric", "final test acc Δ"], rows)
    envs = (
        bullet_list([f"{k}: {was} → {now}" for k, (was, now) in sorted(env.items())])
        if env
        else "<p>The environments recorded (versions, numerics, CPU, data) are the same.</p>"
    )
    return section("Reproduction", intro + verdicts + envs)


def _what_was_run(ctx: ReportContext) -> str:
    """Description, axes, counts (cells × seeds = runs), dataset, wall time and versions."""
    study, runs = ctx.study, ctx.study.runs
    tags = study.parent.data.tags
    statuses = ", ".join(f"{n} {status.lower()}" for status, n in runs["status"].value_counts().items())
    seeds = sorted(runs["seed"].dropna().unique())
    seed_list = ", ".join(str(s) for s in seeds)
    axes = "<br>".join(
        f"<strong>{esc(a.short)}</strong>{f' (<code>{esc(a.key)}</code>)' if a.key != a.short else ''}: "
        f"{esc(', '.join(a.levels))}"
        for a in study.axes
    )
    datasets = "; ".join(f"{name} (digest {digest})" if digest else name for name, digest in study.datasets if name)
    count = run_count(len(study.cells), len(seeds), len(runs))
    items = [
        ("Axes", axes or "none: a single cell"),
        ("Runs", esc(f"{count} (seeds {seed_list or '–'}): {statuses}")),
        ("Dataset", esc(datasets or "–")),
        ("Wall time", esc(f"{duration(study.wall_time_s)} (sum over runs: {duration(runs['wall_time_s'].sum())})")),
        ("Study file", esc(tags.get(Tag.CONFIG_FILE, "–"))),
        ("Git commit", f"<code>{esc(tags[Tag.GIT_COMMIT])}</code>" if Tag.GIT_COMMIT in tags else "–"),
        ("Versions", esc(", ".join(f"{pkg} {version}" for pkg, version in study.versions.items()) or "–")),
    ]
    description = f'<p class="description">{esc(study.description)}</p>' if study.description else ""
    definitions = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in items)
    return f"{description}<dl>{definitions}</dl>"


def _summary_table(ctx: ReportContext) -> str:
    """One row per cell, best first: mean ± 95 % CI over seeds of each statistic."""
    columns = _summary_columns(ctx)
    headers = ["#", "Cell", "Seeds", *(header for header, *_ in columns)]
    rows, classes = [], []
    summary, cut = truncated(ctx.summary, "summary.csv", which="the best cells")
    for _, row in summary.iterrows():
        seeds = str(row["n_seeds"]) if row["n_seeds"] == row["n_runs"] else f"{row['n_seeds']} of {row['n_runs']}"
        stats = [summary_value(row, stat, mean_fmt, ci_fmt) for _, stat, mean_fmt, ci_fmt in columns]
        rows.append([str(row["rank"]), swatch(ctx, row["cell"]), seeds, *map(esc, stats)])
        classes.append("" if row["n_seeds"] else "failed")
    speed = (
        "Iterations to 50 % / 90 %: first evaluation where the test accuracy reaches that fraction of the best "
        f"cell's mean final test accuracy ({ctx.summary[f'{ctx.task.primary}_mean'].max():.3f}), one bar for "
        "every cell; <i>never</i>: no seed reached it; <i>k of n seeds</i>: only those did. "
        f"Sorted by mean {ctx.metric_words}."
        if ctx.task.score == "acc"
        else f"Sorted by mean {ctx.metric_words}, lowest (best) first; the gap is test − train."
    ) + (
        " The cells are ranked on the validation set; the test score of the one selected is the unbiased "
        "estimate of how it does on new data."
        if ctx.selects_on_validation
        else ""
    )
    note = (
        '<p class="note">Mean ± half-width of the 95 % confidence interval over the finished seeds (Student t, '
        f"n − 1 degrees of freedom; one seed: the value alone). {speed}"
        + (
            " Grad ratio first/last: the gradient norm of the first layer divided by that of the output layer, "
            "at the last iteration (see the gradient-flow figure); far below 1 means the gradient vanishes."
            if len(columns) > len(_score_columns(ctx))
            else ""
        )
        + "</p>"
    )
    return note + table(headers, rows, numeric=range(2, len(headers)), row_classes=classes) + cut


def _score_columns(ctx: ReportContext) -> tuple:
    """_SUMMARY_COLUMNS for the study's task: a regression study's errors, its gap, no learning speed."""
    if ctx.task.score == "acc":
        validation = (("Final val acc", "final_val_acc", "{:.3f}", "{:.3f}"),) if ctx.selects_on_validation else ()
        own = (
            (f"Final {m.removeprefix('final_').replace('_', ' ')}", m, "{:.4g}", "{:.2g}")
            for m in ctx.task.own_summary_metrics
        )
        return (*validation, *_SUMMARY_COLUMNS, *own)
    s, fmt = ctx.task.score_abbrev, "{:.4g}"
    final, best, train, *extra = ctx.task.summary_metrics
    return (
        (f"Final test {s}", final, fmt, "{:.2g}"),
        (f"Best test {s}", best, fmt, "{:.2g}"),
        (f"Final train {s}", train, fmt, "{:.2g}"),
        *((f"Final {m.removeprefix('final_').replace('_', ' ')}", m, fmt, "{:.2g}") for m in extra),
        ("Test − train gap", "gap", "{:+.3g}", "{:.2g}"),
        ("Wall time (s)", "wall_time_s", "{:,.1f}", "{:,.1f}"),
    )


def summary_value(row: pd.Series, stat: str, mean_fmt: str, ci_fmt: str) -> str:
    """A summary cell: mean ± CI, or for learning speed where some seed never got there, how many did."""
    if stat in SPEED_FRACTIONS and row["n_seeds"] and pd.isna(row[f"{stat}_mean"]):
        reached = int(row.get(f"{stat}_reached", 0))
        return "never" if reached == 0 else f"{reached} of {row['n_seeds']} seeds"
    return mean_ci(row, stat, mean_fmt, ci_fmt)


def _summary_columns(ctx: ReportContext) -> tuple:
    """The summary table's statistics: the gradient ratio only when some run logged diagnostics."""
    has_ratio = "grad_ratio_mean" in ctx.summary and ctx.summary["grad_ratio_mean"].notna().any()
    return (*_score_columns(ctx), _GRAD_RATIO_COLUMN) if has_ratio else _score_columns(ctx)


def _runs_table(ctx: ReportContext) -> str:
    """One row per cell × seed, in grid order, with its MLflow run id and failure."""
    headers = [
        "Cell",
        "Seed",
        "Status",
        f"Final test {ctx.task.score_abbrev}",
        f"Best test {ctx.task.score_abbrev}",
        f"Final train {ctx.task.score_abbrev}",
        "Iterations",
        "Wall time (s)",
        "Failure",
        "MLflow run",
    ]
    rows, classes = [], []
    per_run, cut = truncated(ctx.per_run, "runs.csv", ctx.per_run["status"] != FINISHED, "unfinished runs first")
    for row in per_run.itertuples():
        failure = "" if pd.isna(row.failure) else row.failure
        if pd.notna(row.failure_step):
            failure += f" (iteration {row.failure_step:,})"
        accuracies = [getattr(row, m) for m in ctx.task.summary_metrics[:3]]
        values = [
            row.seed,
            row.status,
            *(fmt(v, "{:.3f}" if ctx.task.score == "acc" else "{:.4g}") for v in accuracies),
            fmt(row.iterations, "{:,.0f}"),
            fmt(row.wall_time_s, "{:,.1f}"),
            failure,
        ]
        rows.append([swatch(ctx, row.cell), *(esc(str(v)) for v in values), f"<code>{esc(row.run_id)}</code>"])
        classes.append("" if row.status == FINISHED else "failed")
    return table(headers, rows, numeric=range(3, 8), row_classes=classes) + cut


def _figure(figure: ReportFigure, png: bytes) -> str:
    """A figure with its heading and caption, the PNG embedded as base64."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{figure.slug}"><h3>{esc(figure.title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{esc(figure.title)}">'
        f"<figcaption>{esc(figure.caption)}</figcaption></figure>"
    )
