"""The report as one self-contained HTML page: its sections, tables and CSS (screen and print), the
figures embedded as base64 PNG, no external resource."""

from __future__ import annotations

import base64
import html
import itertools
from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from study import __version__
from study.analysis.statistics import (
    CONFIDENCE,
    TOP_CELLS,
    anova,
    compare_top,
    factor_axes,
    interaction_table,
    main_effects,
)
from study.report.context import ReportContext, ReportFigure
from study.report.findings import findings, mean_ci
from study.report.search import search_section
from study.store.contract import Tag
from study.store.reader import FINISHED

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
@page{margin:14mm}
@media print{body{max-width:none;margin:0;padding:0;font-size:9.5pt}h2,h3{break-after:avoid}
 figure,tr{break-inside:avoid}.swatch{print-color-adjust:exact;-webkit-print-color-adjust:exact}}
"""


def render_html(ctx: ReportContext, figures: list[tuple[ReportFigure, bytes]]) -> str:
    """The whole report as one HTML document with its figures embedded."""
    title = f"Study report: {ctx.study.study}"
    body = "\n".join(
        [
            _header(ctx),
            _expectations(ctx),
            _reproduction(ctx),
            _section("What was run", _what_was_run(ctx)),
            search_section(ctx),  # a search's trials (study/report/search.py); empty for a grid
            _section("Findings", _list(findings(ctx))),
            _section("Summary per cell", _summary_table(ctx)),
            _section("Is the ranking resolved?", _replicates(ctx)),
            _factor_section(ctx),
            _section("Figures", "\n".join(_figure(figure, png) for figure, png in figures)),
            _section("All runs", _runs_table(ctx)),
        ]
    )
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n{body}\n</body>\n</html>\n"
    )


def _header(ctx: ReportContext) -> str:
    """Title and which run the report is about."""
    parent = ctx.study.parent.info
    meta = (
        f"Study run {_e(parent.run_name)} (MLflow run <code>{_e(parent.run_id)}</code>), "
        f"started {_timestamp(parent.start_time)}. "
        f"Report generated {datetime.now():%Y-%m-%d %H:%M} by study {__version__}."
    )
    return f'<header><h1>Study: {_e(ctx.study.study)}</h1><p class="meta">{meta}</p></header>'


def _expectations(ctx: ReportContext) -> str:
    """The study's `expect:` ranges and whether each cell met them (nothing when the study has none)."""
    if not ctx.expectations:
        return ""
    met = sum(o["met"] for o in ctx.expectations)
    rows = [
        [
            _e(f"expect[{o['expectation']}]"),
            _e(o["cell"]),
            _e(o["metric"]),
            _e("—" if o["value"] is None else f"{o['value']:.4f}"),
            _e(f"[{o['low']:g}, {o['high']:g}]"),
            "met" if o["met"] else "<strong>NOT MET</strong>",
            _e(o.get("source", "")),
        ]
        for o in ctx.expectations
    ]
    table = _table(["expectation", "cell", "metric", "value", "range", "", "source"], rows, numeric=range(3, 5))
    return _section(f"Expected results: {met} of {len(ctx.expectations)} met", table)


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
            else f"<strong>differs</strong>{': ' + _e(c['problem']) if c['problem'] else ''}"
        )
        rows.append([_e(c["name"]), verdict, _e(moved), _e(acc)])
        env.update(c["environment"])
    same = sum(c["identical"] for c in rep["cells"])
    intro = (
        f"<p>This run reproduces run <code>{_e(rep['original_parent'])}</code>: {same} of {len(rep['cells'])} "
        "cells came back bit-identical.</p>"
    )
    table = _table(["cell", "verdict", "largest |difference| per metric", "final test acc Δ"], rows)
    envs = (
        _list([f"{k}: {was} → {now}" for k, (was, now) in sorted(env.items())])
        if env
        else "<p>The environments recorded (versions, numerics, CPU, data) are the same.</p>"
    )
    return _section("Reproduction", intro + table + envs)


def _what_was_run(ctx: ReportContext) -> str:
    """Description, axes, runs, dataset, wall time, versions and the fixed settings."""
    study, runs = ctx.study, ctx.study.runs
    tags = study.parent.data.tags
    statuses = ", ".join(f"{n} {status.lower()}" for status, n in runs["status"].value_counts().items())
    seeds = ", ".join(str(s) for s in sorted(runs["seed"].dropna().unique()))
    axes = "<br>".join(
        f"<strong>{_e(a.short)}</strong>{f' (<code>{_e(a.key)}</code>)' if a.key != a.short else ''}: "
        f"{_e(', '.join(a.levels))}"
        for a in study.axes
    )
    datasets = "; ".join(f"{name} (digest {digest})" if digest else name for name, digest in study.datasets if name)
    items = [
        ("Axes", axes or "none: a single cell"),
        ("Runs", _e(f"{len(study.cells)} cells, {len(runs)} runs (seeds {seeds or '–'}): {statuses}")),
        ("Dataset", _e(datasets or "–")),
        ("Wall time", _e(f"{_duration(study.wall_time_s)} (sum over runs: {_duration(runs['wall_time_s'].sum())})")),
        ("Study file", _e(tags.get(Tag.CONFIG_FILE, "–"))),
        ("Git commit", f"<code>{_e(tags[Tag.GIT_COMMIT])}</code>" if Tag.GIT_COMMIT in tags else "–"),
        ("Versions", _e(", ".join(f"{pkg} {version}" for pkg, version in study.versions.items()) or "–")),
    ]
    description = f'<p class="description">{_e(study.description)}</p>' if study.description else ""
    definitions = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in items)
    fixed = _table(["Setting", "Value"], [[f"<code>{_e(k)}</code>", _e(v)] for k, v in study.fixed.items()])
    heading = '<h3>Fixed settings</h3><p class="note">Equal in every run; unset options left out.</p>'
    return f"{description}<dl>{definitions}</dl>{heading}{fixed if study.fixed else '<p>none</p>'}"


def _summary_table(ctx: ReportContext) -> str:
    """One row per cell, best first: mean ± 95 % CI over seeds of each statistic."""
    columns = _summary_columns(ctx)
    headers = ["#", "Cell", "Seeds", *(header for header, *_ in columns)]
    rows, classes = [], []
    for _, row in ctx.summary.iterrows():
        seeds = str(row["n_seeds"]) if row["n_seeds"] == row["n_runs"] else f"{row['n_seeds']} of {row['n_runs']}"
        stats = [mean_ci(row, stat, mean_fmt, ci_fmt) for _, stat, mean_fmt, ci_fmt in columns]
        rows.append([str(row["rank"]), _swatch(ctx, row["cell"]), seeds, *map(_e, stats)])
        classes.append("" if row["n_seeds"] else "failed")
    note = (
        '<p class="note">Mean ± half-width of the 95 % confidence interval over the finished seeds (Student t, '
        "n − 1 degrees of freedom; one seed: the value alone). Iterations to 50 % / 90 %: first evaluation "
        "where the test accuracy reaches that fraction of the run's final test accuracy. Sorted by mean final "
        "test accuracy."
        + (
            " Grad ratio first/last: the gradient norm of the first layer divided by that of the output layer, "
            "at the last iteration (see the gradient-flow figure); far below 1 means the gradient vanishes."
            if len(columns) > len(_SUMMARY_COLUMNS)
            else ""
        )
        + "</p>"
    )
    return note + _table(headers, rows, numeric=range(2, len(headers)), row_classes=classes)


def _summary_columns(ctx: ReportContext) -> tuple:
    """The summary table's statistics: the gradient ratio only when some run logged diagnostics."""
    has_ratio = "grad_ratio_mean" in ctx.summary and ctx.summary["grad_ratio_mean"].notna().any()
    return (*_SUMMARY_COLUMNS, _GRAD_RATIO_COLUMN) if has_ratio else _SUMMARY_COLUMNS


def _replicates(ctx: ReportContext) -> str:
    """The best cell against the next ones: difference of means, Welch CI, verdict; or why there is none."""
    comparison = compare_top(ctx.per_run, ctx.summary)
    if comparison.empty:
        return "<p>Only one cell finished: nothing to compare.</p>"
    if (comparison["verdict"] == "needs replicates").all():
        return (
            "<p>Replicates are needed: with one seed per cell a difference between cells cannot be told from "
            "seed-to-seed noise. Run every cell with several seeds (<code>seeds: 5</code> in the study file, or "
            "<code>--set seeds=5</code>) to get confidence intervals and this comparison.</p>"
        )
    headers = ["Comparison", "Seeds", "Difference of means", f"{CONFIDENCE:.0%} CI (Welch)", "dof", "Verdict"]
    rows = []
    for row in comparison.itertuples():
        ci = "–" if pd.isna(row.ci_lo) else f"[{row.ci_lo:+.4f}, {row.ci_hi:+.4f}]"
        rows.append(
            [
                f"{_swatch(ctx, row.best)} − {_swatch(ctx, row.other)}",
                _e(f"{row.n_best} / {row.n_other}"),
                _e(f"{row.diff:+.4f}"),
                _e(ci),
                _e(_fmt(row.dof, "{:.1f}")),
                f"<strong>{_e(row.verdict)}</strong>",
            ]
        )
    note = (
        f'<p class="note">The best cell by mean final test accuracy against each of the next {TOP_CELLS - 1}. '
        "Difference of the two means with Welch's confidence interval (each cell keeps its own variance; "
        "degrees of freedom by Welch–Satterthwaite). <em>Resolved</em>: the interval excludes 0, the "
        "ranking holds beyond seed noise; <em>within noise</em>: it does not; <em>needs replicates</em>: "
        "a cell has fewer than two finished seeds.</p>"
    )
    return note + _table(headers, rows, numeric=range(1, 5))


def _factor_section(ctx: ReportContext) -> str:
    """Main effects, two-way interactions and the ANOVA table; nothing without an axis of two levels."""
    factors = factor_axes(ctx.study.axes)
    if not factors:
        return ""
    parts = [_main_effects_table(ctx), _interaction_tables(ctx, factors), _anova_table(ctx)]
    return _section("Factor effects", "".join(parts))


def _main_effects_table(ctx: ReportContext) -> str:
    """Mean final test accuracy per level of each axis, from cell means."""
    effects = main_effects(ctx.per_run, ctx.study.axes)
    rows = [
        [
            _e(row.axis),
            _e(row.level),
            _e(_fmt(row.mean, "{:.3f}")),
            _e(_fmt(row.effect, "{:+.3f}")),
            _e(str(row.n_cells)),
            _e(str(row.n_runs)),
        ]
        for row in effects.itertuples()
    ]
    note = (
        '<h3>Main effects</h3><p class="note">Mean final test accuracy of the cells at each level, averaged '
        "over the levels of the other axes (each cell counts once, whatever its number of seeds); effect: "
        "the difference from the mean of all cells.</p>"
    )
    headers = ["Axis", "Level", "Mean final test acc", "Effect", "Cells", "Runs"]
    return note + _table(headers, rows, numeric=range(2, 6))


def _interaction_tables(ctx: ReportContext, factors: list) -> str:
    """One table per pair of axes: mean final test accuracy per level combination and its interaction."""
    pairs = list(itertools.combinations(factors, 2))
    if not pairs:
        return ""
    html_parts = [
        '<h3>Two-way interactions</h3><p class="note">Mean final test accuracy per combination of two axes '
        "(cell means, averaged over the other axes); in parentheses the interaction: how much the "
        "combination differs from what the two main effects alone predict (mean − row mean − column mean "
        "+ table mean). Near 0: the axes act independently.</p>"
    ]
    for rows_axis, cols_axis in pairs:
        table = interaction_table(ctx.per_run, ctx.study.axes, rows_axis, cols_axis)
        body = []
        for level in rows_axis.levels:
            cells = table[table[rows_axis.short] == level]
            body.append(
                [
                    _e(level),
                    *(
                        _e("–" if pd.isna(r["mean"]) else f"{r['mean']:.3f} ({r['interaction']:+.3f})")
                        for _, r in cells.iterrows()
                    ),
                ]
            )
        headers = [f"{rows_axis.short} ↓  {cols_axis.short} →", *cols_axis.levels]
        html_parts.append(_table(headers, body, numeric=range(1, len(headers))))
    return "".join(html_parts)


def _anova_table(ctx: ReportContext) -> str:
    """How much of the variance of the per-run final test accuracies each axis and pair explains."""
    table, balanced = anova(ctx.per_run, ctx.study.axes)
    rows = [
        [
            _e(row.term),
            _e(str(row.df)),
            _e(f"{row.ss:.3g}"),
            _e(_fmt(row.share, "{:.1f} %")),
            _e(_fmt(row.f, "{:.1f}")),
            _e(_p_value(row.p)),
        ]
        for row in table.itertuples()
    ]
    note = (
        '<h3>Variance explained</h3><p class="note">Analysis of variance of the final test accuracy of '
        "every finished run: the total sum of squares around the overall mean, split into the part each "
        "axis explains, each pair's interaction, and the residual spread between seeds of the same cell. "
        "Share: percent of the total. F and p test each term against the seed spread (only with "
        "several seeds per cell)."
    )
    if not balanced:
        note += (
            " <strong>Approximate:</strong> the grid is unbalanced (cells excluded, failed, or with unequal "
            "seeds), so terms are fitted in the order listed (sequential sums of squares) and an earlier "
            "axis takes the variance it shares with a later one."
        )
    return note + "</p>" + _table(["Term", "df", "SS", "Share of total", "F", "p"], rows, numeric=range(1, 6))


def _p_value(p: float) -> str:
    """A p-value for humans: '–' without one, '< 0.0001' when tiny."""
    if pd.isna(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"


def _runs_table(ctx: ReportContext) -> str:
    """One row per cell × seed, in grid order, with its MLflow run id and failure."""
    headers = [
        "Cell",
        "Seed",
        "Status",
        "Final test acc",
        "Best test acc",
        "Final train acc",
        "Iterations",
        "Wall time (s)",
        "Failure",
        "MLflow run",
    ]
    rows, classes = [], []
    for row in ctx.per_run.itertuples():
        failure = "" if pd.isna(row.failure) else row.failure
        if pd.notna(row.failure_step):
            failure += f" (iteration {row.failure_step:,})"
        accuracies = (row.final_test_acc, row.best_test_acc, row.final_train_acc)
        values = [
            row.seed,
            row.status,
            *(_fmt(v, "{:.3f}") for v in accuracies),
            _fmt(row.iterations, "{:,.0f}"),
            _fmt(row.wall_time_s, "{:,.1f}"),
            failure,
        ]
        rows.append([_swatch(ctx, row.cell), *(_e(str(v)) for v in values), f"<code>{_e(row.run_id)}</code>"])
        classes.append("" if row.status == FINISHED else "failed")
    return _table(headers, rows, numeric=range(3, 8), row_classes=classes)


def _figure(figure: ReportFigure, png: bytes) -> str:
    """A figure with its heading and caption, the PNG embedded as base64."""
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure id="{figure.slug}"><h3>{_e(figure.title)}</h3>'
        f'<img src="data:image/png;base64,{data}" alt="{_e(figure.title)}">'
        f"<figcaption>{_e(figure.caption)}</figcaption></figure>"
    )


def _table(
    headers: list[str], rows: list[list[str]], numeric: range = range(0), row_classes: Iterable[str] = ()
) -> str:
    """An HTML table of already-escaped cells, the `numeric` columns right-aligned."""

    def cells(values: list[str], tag: str) -> str:
        return "".join(f"<{tag}{' class=num' if i in numeric else ''}>{v}</{tag}>" for i, v in enumerate(values))

    classes = itertools.chain(row_classes, itertools.repeat(""))
    body = "".join(f"<tr{f' class={c}' if c else ''}>{cells(r, 'td')}</tr>" for r, c in zip(rows, classes))
    return f"<table><thead><tr>{cells([_e(h) for h in headers], 'th')}</tr></thead><tbody>{body}</tbody></table>"


def _section(title: str, content: str) -> str:
    """A titled report section."""
    return f"<section><h2>{_e(title)}</h2>\n{content}\n</section>"


def _list(lines: list[str]) -> str:
    """Plain-text lines as an escaped bullet list."""
    return "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in lines) + "</ul>"


def _swatch(ctx: ReportContext, cell: str) -> str:
    """A cell's name preceded by its colour square."""
    return f'<span class="swatch" style="background:{ctx.color_hex(cell)}"></span>{_e(cell)}'


def _fmt(value, fmt: str) -> str:
    """A number formatted, '–' when missing."""
    return "–" if pd.isna(value) else fmt.format(value)


def _duration(seconds: float) -> str:
    """A duration for humans: seconds, minutes or hours."""
    if pd.isna(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def _timestamp(millis: int) -> str:
    """An MLflow timestamp (ms since the epoch) as local date and time."""
    return f"{datetime.fromtimestamp(millis / 1000):%Y-%m-%d %H:%M}"


def _e(text: str) -> str:
    """HTML-escape text."""
    return html.escape(str(text))
