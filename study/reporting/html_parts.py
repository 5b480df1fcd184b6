"""Building blocks of the report's HTML: escaped tables, sections, lists, colour swatches and the
formatting of numbers, durations, timestamps and p-values."""

from __future__ import annotations

import html
import itertools
from collections.abc import Iterable
from datetime import datetime

import pandas as pd

from study.reporting.context import ReportContext


def table(headers: list[str], rows: list[list[str]], numeric: range = range(0), row_classes: Iterable[str] = ()) -> str:
    """An HTML table of already-escaped cells, the `numeric` columns right-aligned."""

    def cells(values: list[str], tag: str) -> str:
        return "".join(f"<{tag}{' class=num' if i in numeric else ''}>{v}</{tag}>" for i, v in enumerate(values))

    classes = itertools.chain(row_classes, itertools.repeat(""))
    body = "".join(f"<tr{f' class={c}' if c else ''}>{cells(r, 'td')}</tr>" for r, c in zip(rows, classes))
    return f"<table><thead><tr>{cells([esc(h) for h in headers], 'th')}</tr></thead><tbody>{body}</tbody></table>"


def section(title: str, content: str) -> str:
    """A titled report section."""
    return f"<section><h2>{esc(title)}</h2>\n{content}\n</section>"


def bullet_list(lines: list[str]) -> str:
    """Plain-text lines as an escaped bullet list."""
    return "<ul>" + "".join(f"<li>{esc(line)}</li>" for line in lines) + "</ul>"


def swatch(ctx: ReportContext, cell: str) -> str:
    """A cell's name preceded by its colour square."""
    return f'<span class="swatch" style="background:{ctx.color_hex(cell)}"></span>{esc(cell)}'


def fmt(value, fmt: str) -> str:
    """A number formatted, '–' when missing."""
    return "–" if pd.isna(value) else fmt.format(value)


def duration(seconds: float) -> str:
    """A duration for humans: seconds, minutes or hours."""
    if pd.isna(seconds):
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def timestamp(millis: int) -> str:
    """An MLflow timestamp (ms since the epoch) as local date and time."""
    return f"{datetime.fromtimestamp(millis / 1000):%Y-%m-%d %H:%M}"


def esc(text: str) -> str:
    """HTML-escape text."""
    return html.escape(str(text))


def p_value(p: float) -> str:
    """A p-value for humans: '–' without one, '< 0.0001' when tiny."""
    if pd.isna(p):
        return "–"
    return "< 0.0001" if p < 1e-4 else f"{p:.4f}"
