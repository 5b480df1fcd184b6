"""The Pareto front of a search with several objectives (`search.metrics`), for the report's Search section:
the objectives in words, a figure of every complete trial on the first two objectives with the front drawn
and the dominated trials greyed, and the front's trials in a table with the settings of each point."""

from __future__ import annotations

import html
from collections.abc import Callable
from typing import Any

from study.reporting.context import ReportFigure
from study.reporting.search_report import SearchReport


def objectives_line(report: SearchReport) -> str:
    """What the search optimised, in words."""
    ways = ", ".join(f"{'maximize' if up else 'minimize'} {html.escape(name)}" for name, up in report.objectives)
    if not report.several:
        return f"Objective: {ways}, the mean over a trial's seeds."
    front = int(report.trials["front"].sum()) if "front" in report.trials else 0
    return (
        f"Objectives: {ways}, each the mean over a trial's seeds. No single trial is best: the answer is the "
        f"Pareto front, {front} trial(s) that no other trial matches or beats on every objective "
        "(their runs are tagged <code>study.pareto_front=true</code>)."
    )


def pareto_figure(report: SearchReport) -> ReportFigure:
    """The complete trials on the first two objectives: the front in colour, joined in order, each point
    labelled with its trial number; the dominated trials grey."""
    from matplotlib.figure import Figure

    (y_name, _), (x_name, _) = report.objectives[:2]
    done = report.complete
    fig = Figure(figsize=(6.5, 3.8), dpi=100)
    ax = fig.subplots()
    dominated, front = done[~done["front"].astype(bool)], done[done["front"].astype(bool)].sort_values("value.1")
    ax.scatter(dominated["value.1"], dominated["value.0"], color="lightgray", label="dominated", zorder=2)
    ax.plot(front["value.1"], front["value.0"], "o-", color="tab:orange", label="Pareto front", zorder=3)
    for _, row in front.iterrows():
        ax.annotate(
            str(int(row["number"])),
            (row["value.1"], row["value.0"]),
            fontsize=8,
            xytext=(4, 4),
            textcoords="offset points",
        )
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.legend(fontsize="small")
    fig.tight_layout()
    more = " (the front is over every objective; the figure shows the first two)" if len(report.objectives) > 2 else ""
    caption = (
        f"Each complete trial's {y_name} against its {x_name}; the Pareto front's trials (numbered) in orange, "
        f"the trials another one beats on both in grey{more}."
    )
    return ReportFigure("search-pareto", "Pareto front", caption, fig)


def front_table(report: SearchReport, fmt: Callable[[Any], str]) -> str:
    """The front's trials: number, each objective, each parameter (n/a where the trial did not sample it)."""
    t = report.trials
    front = t[t["front"].astype(bool)].sort_values("value.0", ascending=not report.maximize) if "front" in t else t[:0]
    if front.empty:
        return ""
    params = [c for c in t.columns if c.startswith("param.")]
    head = ["trial", *(name for name, _ in report.objectives), *(c[6:] for c in params)]
    rows = []
    for _, r in front.iterrows():
        cells = [str(r["number"]), *(fmt(r[f"value.{i}"]) for i in range(len(report.objectives)))]
        cells += [fmt(r[c]) if r[c] == r[c] else "n/a" for c in params]  # NaN: not sampled in this trial
        rows.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in head) + "</tr>"
    return f"<h3>Pareto front</h3><table>{header}{''.join(rows)}</table>"
