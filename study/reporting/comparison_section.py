"""The report's comparison section: this run (B) against another (A), from study/analysis/compare.py.

Written by `study report STUDY --compare OTHER` (or `study.report(..., compare=OTHER)`): the
settings that differ, one table per metric of the shared cells with B − A and Welch's interval,
and the cells only one of the two has. Self-contained HTML using the report's table classes.
"""

from __future__ import annotations

import html

import pandas as pd

from study.analysis.compare import VERDICTS, Comparison


def comparison_section(comparison: Comparison) -> str:
    """The whole `<section>`; the heading names the other run."""
    other = comparison.a.parent.info
    parts = [
        f"<p>This run (B) against run <code>{_e(other.run_id)}</code> of study <strong>{_e(comparison.a.study)}"
        f"</strong> ({_e(other.run_name)}, A), cell by cell: cells are matched by their axis values.</p>",
        _settings(comparison),
        *(_metric_table(comparison, metric, rows) for metric, rows in comparison.table.groupby("metric", sort=False)),
        _only(comparison),
        _note(comparison),
    ]
    if comparison.table.empty:
        parts.insert(2, "<p>The two runs have no cell in common.</p>")
    return f"<section><h2>Compared with {_e(other.run_name)}</h2>\n{''.join(parts)}\n</section>"


def _settings(comparison: Comparison) -> str:
    if not comparison.settings:
        return "<p>Their fixed settings are the same.</p>"
    rows = "".join(
        f"<tr><td><code>{_e(k)}</code></td><td>{_e(a)}</td><td>{_e(b)}</td></tr>"
        for k, (a, b) in comparison.settings.items()
    )
    return (
        "<h3>Settings that differ</h3><table><thead><tr><th>Setting</th><th>A</th><th>B (this run)</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )


def _metric_table(comparison: Comparison, metric: str, rows: pd.DataFrame) -> str:
    ci = f"{comparison.confidence:.0%} CI (Welch)"
    head = "".join(
        f"<th{' class=num' if i in range(1, 6) else ''}>{_e(h)}</th>"
        for i, h in enumerate(["Cell", "Seeds A / B", "A", "B", "B − A", ci, "Verdict"])
    )
    body = []
    for r in rows.itertuples():
        interval = "–" if pd.isna(r.ci_lo) else f"[{r.ci_lo:+.4f}, {r.ci_hi:+.4f}]"
        verdict = f"<strong>{_e(r.verdict)}</strong>" if r.verdict == "changed" else _e(r.verdict)
        values = [f"{r.n_a} / {r.n_b}", _num(r.mean_a), _num(r.mean_b), _num(r.diff, "{:+.4f}"), interval]
        cells = "".join(f"<td class=num>{_e(v)}</td>" for v in values)
        body.append(f"<tr><td>{_e(r.cell)}</td>{cells}<td>{verdict}</td></tr>")
    return f"<h3>{_e(metric)}</h3><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _only(comparison: Comparison) -> str:
    items = [
        f"<li>only in {side}: {_e(', '.join(cells))}</li>"
        for side, cells in (("A", comparison.only_a), ("B", comparison.only_b))
        if cells
    ]
    return f"<ul>{''.join(items)}</ul>" if items else ""


def _note(comparison: Comparison) -> str:
    used = [v for v in VERDICTS if (comparison.table["verdict"] == v).any()]
    meanings = "; ".join(f"<em>{_e(v)}</em>: {_e(VERDICTS[v])}" for v in used)
    return (
        "<p class=\"note\">Means over each cell's finished seeds; B − A with Welch's "
        f"{comparison.confidence:.0%} confidence interval when both have at least two seeds. {meanings}.</p>"
        if used
        else ""
    )


def _num(value: float, fmt: str = "{:.4f}") -> str:
    return "–" if pd.isna(value) else fmt.format(value)


def _e(text: object) -> str:
    return html.escape(str(text))
