"""The report's figures drawn to PNG: in forked worker processes, one builder at a time, while the
report process computes its statistics; in this process where a fork is not possible or not safe.

Drawing is most of a report's time and all of it Python under one GIL, so threads would not help. A
forked worker inherits the report's data as it is (nothing pickled, nothing imported again) and hands
back only the PNG bytes. A fork is safe only in a process with one thread, so a process with others
(the end of `study run`, a notebook kernel with its own) draws the figures itself, as do Windows and
a single CPU.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import matplotlib
from matplotlib.figure import Figure

from study.reporting.context import ReportContext, ReportFigure
from study.reporting.drawing import png
from study.reporting.figures import FIGURE_BUILDERS, STYLE
from study.reporting.forking import can_fork, default_workers

_shared: ReportContext | None = None  # the context a forked worker inherited


class Rendering:
    """The report's figures being drawn; `figures()` waits for them, in FIGURE_BUILDERS order."""

    def __init__(self, ctx: ReportContext, workers: int) -> None:
        self._ctx = ctx
        self._pool: ProcessPoolExecutor | None = None
        self._pending: list[Future] = []
        self._done: list[tuple[ReportFigure, bytes]] | None = None
        if workers < 2:
            self._done = self._drawn_here()
            return
        try:
            self._pool = ProcessPoolExecutor(workers, multiprocessing.get_context("fork"), _adopt, (ctx,))
            self._pending = [self._pool.submit(_draw_shared, index) for index in range(len(FIGURE_BUILDERS))]
        except OSError:  # no process to be had (a limit on processes or memory): drawn here when asked for
            self.close()

    def figures(self) -> list[tuple[ReportFigure, bytes]]:
        """Every figure with its PNG bytes (a figure drawn in a worker without its matplotlib Figure). Where
        the workers could not start, or one died (killed for memory), they are all drawn here."""
        if self._done is None:
            drawn = self._from_workers()
            self._done = drawn if drawn is not None else self._drawn_here()
        return self._done

    def _from_workers(self) -> list[tuple[ReportFigure, bytes]] | None:
        """The workers' figures; None where none started or one died."""
        if not self._pending:
            return None
        try:
            return [drawn for future in self._pending for drawn in _figures(future.result())]
        except (BrokenProcessPool, OSError):
            return None
        finally:
            self.close()

    def _drawn_here(self) -> list[tuple[ReportFigure, bytes]]:
        return [drawn for index in range(len(FIGURE_BUILDERS)) for drawn in draw(self._ctx, index)]

    def close(self) -> None:
        """Stop the workers: the figures not drawn yet are not drawn."""
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def start_rendering(ctx: ReportContext, workers: int | None = None) -> Rendering:
    """Start drawing the report's figures: across `workers` forked processes (default: $STUDY_REPORT_WORKERS,
    else one per CPU this process may use) where forking is safe, else here and now."""
    workers = min(default_workers() if workers is None else workers, len(FIGURE_BUILDERS))
    return Rendering(ctx, workers if can_fork() else 1)


def draw(ctx: ReportContext, index: int) -> list[tuple[ReportFigure, bytes]]:
    """The figures of one builder of FIGURE_BUILDERS, each with its PNG bytes, under the report's style."""
    builder: Callable[[ReportContext], list[ReportFigure]] = FIGURE_BUILDERS[index]
    with matplotlib.rc_context(STYLE):
        return [(figure, png(_drawable(figure))) for figure in builder(ctx)]


def _drawable(figure: ReportFigure) -> Figure:
    """A builder's figure's matplotlib Figure (a builder's figures always have one)."""
    assert figure.figure is not None
    return figure.figure


def _adopt(ctx: ReportContext) -> None:
    """A worker's start: keep the context it inherited."""
    global _shared
    _shared = ctx


def _draw_shared(index: int) -> list[tuple[str, str, str, bytes]]:
    """In a worker: one builder's figures as (slug, title, caption, PNG), without the Figure objects."""
    assert _shared is not None
    return [(f.slug, f.title, f.caption, data) for f, data in draw(_shared, index)]


def _figures(drawn: list[tuple[str, str, str, bytes]]) -> list[tuple[ReportFigure, bytes]]:
    """A worker's figures as the report's (ReportFigure, PNG) pairs."""
    return [(ReportFigure(slug, title, caption, None), data) for slug, title, caption, data in drawn]
