"""The report's shared state: the study read once, its per-run and per-cell tables, one colour per
cell, and the figure type that the figure builders return and the HTML embeds."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import pandas as pd
import seaborn as sns
from matplotlib.colors import to_hex

from study.analysis.effects import Metric, level_effects
from study.analysis.factors import anova, interacting_in
from study.analysis.statistics import run_stats, summarize
from study.spec.task import Task
from study.store.reader import FINISHED, StudyRuns

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass(frozen=True)
class ReportFigure:
    """One figure of the report: file stem, heading, caption and the matplotlib Figure (None once drawn in
    another process)."""

    slug: str
    title: str
    caption: str
    figure: Figure | None


@dataclass
class ReportContext:
    """What figure builders and the HTML read: the study, its per-run and per-cell tables, cell colours."""

    study: StudyRuns
    per_run: pd.DataFrame
    summary: pd.DataFrame
    palette: dict[str, tuple[float, float, float]]
    plotted: frozenset[str]
    expectations: list[dict] | None = None  # the parent's expectations.json (the study's `expect:` checks)
    reproduction: dict | None = None  # the parent's reproduction.json, when it reproduces another run
    rounds: list[dict] | None = None  # the parent's rounds.json, when its seeds were added in rounds
    search: Any = None  # a search's trials and figures (study/reporting/search_report.py SearchReport); None for a grid
    tracking_uri: str | None = None  # the store, for loading logged models (study/reporting/models_section.py)
    comparison_html: str = ""  # `study report --compare OTHER`: the section of study/reporting/comparison_section.py

    @property
    def task(self) -> Task:
        """The study's task (study/spec/task.py): which score the tables and figures show."""
        return self.study.task

    @property
    def selects_on_validation(self) -> bool:
        """Whether the runs hold a validation score: the report then ranks, compares and selects on it, and
        the test score of the selected cell is the unbiased estimate."""
        return self.task.validation

    @property
    def metric(self) -> Metric:
        """The per-run value that ranks cells and the effects compare: the final validation score with
        `data.validation`, else the task's primary (test) metric; and its direction."""
        return Metric(ranking_column(self.task), self.task.higher_is_better)

    @property
    def metric_words(self) -> str:
        """The ranking metric in words: 'final test accuracy', 'final validation MAE'."""
        split = "validation" if self.selects_on_validation else "test"
        return f"final {split} {self.task.score_name}"

    @cached_property
    def anova(self) -> tuple[pd.DataFrame, bool]:
        """The ANOVA of the ranking metric (study.analysis.factors), once for the Findings, the effects and
        the table."""
        return anova(self.per_run, self.study.axes, self.metric.column)

    @cached_property
    def effects(self) -> pd.DataFrame:
        """The study's comparisons (study.analysis.effects), decided by that ANOVA's interactions: once for
        the Answer, the Findings and the effects table."""
        return level_effects(self.per_run, self.study.axes, self.metric, interacting_in(self.anova[0], self.study.axes))

    def curve(self, metric: str) -> pd.DataFrame:
        """One metric's points from the plotted runs (finished ones; all runs of a cell without any)."""
        curve = self.study.curve(metric)
        return curve[curve["run_id"].isin(self.plotted)]

    def label(self, cell: str) -> str:
        """A cell's name for figures, marked when none of its runs finished."""
        finished = self.summary.set_index("cell")["n_seeds"].get(cell, 0)
        return cell if finished else f"{cell} (failed)"

    def color_hex(self, cell: str) -> str:
        """A cell's palette colour as '#rrggbb', for the HTML tables."""
        return to_hex(self.palette[cell])


def build_context(study: StudyRuns) -> ReportContext:
    """Compute the per-run and per-cell tables and the cell colours once for all figures and tables."""
    per_run = run_stats(study)
    finished_cells = set(per_run.loc[per_run["status"] == FINISHED, "cell"])
    plotted = per_run[(per_run["status"] == FINISHED) | ~per_run["cell"].isin(finished_cells)]
    return ReportContext(
        study=study,
        per_run=per_run,
        summary=summarize(per_run, study.axes, rank_by=ranking_column(study.task)),
        palette=cell_palette(study.cells),
        plotted=frozenset(plotted["run_id"]),
    )


def ranking_column(task: Task) -> str:
    """The summary metric cells are ranked by: the final validation score when there is one."""
    return task.ranking


def cell_palette(cells: list[str]) -> dict[str, tuple[float, float, float]]:
    """One fixed colour per cell, in grid order, shared by every figure and the summary table."""
    name = "tab10" if len(cells) <= 10 else "tab20" if len(cells) <= 20 else "husl"
    return dict(zip(cells, sns.color_palette(name, len(cells))))
