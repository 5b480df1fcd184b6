"""The factor effects of a study run: main effects, two-way interactions and a sequential ANOVA of the
per-run primary metric over the grid's axes. Pure computation over the per-run table."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from study.analysis.statistics import CONFIDENCE, finished_finals, primary
from study.store.reader import Axis

ALPHA = 1 - CONFIDENCE  # the level every verdict of the report is at


def factor_axes(axes: Sequence[Axis]) -> list[Axis]:
    """The axes that act as factors: every axis with at least two levels (its levels are categories)."""
    return [axis for axis in axes if len(axis.levels) >= 2]


def cell_means(per_run: pd.DataFrame, axes: Sequence[Axis]) -> pd.DataFrame:
    """One row per cell with a finished run: its axis values, mean final test accuracy and seed count."""
    finals = finished_finals(per_run)
    columns = [a.column for a in axes]
    grouped = finals.groupby("cell", sort=False)
    out = grouped[columns].first()
    out["mean"], out["n"] = grouped[primary(per_run)].mean(), grouped.size()
    return out.reset_index()


def main_effects(per_run: pd.DataFrame, axes: Sequence[Axis]) -> pd.DataFrame:
    """Per factor and level: mean final test accuracy over the cells at that level (cell means, so an
    unequal number of seeds does not weigh a cell more), its difference from the mean of all cells,
    and how many cells and runs it rests on."""
    cells = cell_means(per_run, axes)
    grand = cells["mean"].mean()
    rows = []
    for axis in factor_axes(axes):
        for level in axis.levels:
            at = cells[cells[axis.column] == level]
            mean = at["mean"].mean() if len(at) else np.nan
            rows.append(
                {
                    "axis": axis.short,
                    "level": level,
                    "mean": mean,
                    "effect": mean - grand,
                    "n_cells": len(at),
                    "n_runs": int(at["n"].sum()),
                }
            )
    return pd.DataFrame(rows, columns=["axis", "level", "mean", "effect", "n_cells", "n_runs"])


def interaction_table(per_run: pd.DataFrame, axes: Sequence[Axis], rows: Axis, cols: Axis) -> pd.DataFrame:
    """Two factors' level combinations: mean final test accuracy (cell means averaged over the other
    axes) and the interaction — what the combination adds beyond the two main effects:
    m_ij − m_i· − m_·j + m_·· over this table's own row, column and grand means."""
    cells = cell_means(per_run, axes)
    means = cells.groupby([rows.column, cols.column])["mean"].mean().unstack()
    means = means.reindex(index=list(rows.levels), columns=list(cols.levels))
    row_mean, col_mean, grand = means.mean(axis=1), means.mean(axis=0), np.nanmean(means.to_numpy(float))
    inter = means.sub(row_mean, axis=0).sub(col_mean, axis=1) + grand
    return pd.DataFrame(
        [
            {rows.short: r, cols.short: c, "mean": means.loc[r, c], "interaction": inter.loc[r, c]}
            for r in means.index
            for c in means.columns
        ]
    )


def anova(per_run: pd.DataFrame, axes: Sequence[Axis], column: str | None = None) -> tuple[pd.DataFrame, bool]:
    """Sums of squares of the per-run final test accuracies by factor and two-way interaction.

    Terms enter a least-squares fit one after another (main effects in axis order, then the pairs);
    each term's SS is the drop in residual SS it brings (sequential, 'type I'). On a balanced
    complete grid these are the classical two-way ANOVA sums of squares, independent of the order;
    otherwise they depend on it (the second value, `balanced`, is then False). What the cells
    explain beyond the pairs is `higher-order interactions`; the spread between seeds of one cell is
    the residual, against which F and p are computed when it has degrees of freedom.
    Returns (rows term / df / ss / share % / F / p, ending in residual and total; balanced). `column`: the
    per-run value analysed (default: the final test score).
    """
    column = column or primary(per_run)
    data = finished_finals(per_run, column)
    factors = factor_axes(axes)
    y = data[column].to_numpy(float)
    design = np.ones((len(y), 1))
    rss, rank = _fit(design, y)
    total_ss = float(((y - y.mean()) ** 2).sum())
    rows = []
    for term in [(a,) for a in factors] + list(itertools.combinations(factors, 2)):
        design = np.hstack([design, _term_columns(data, term)])
        new_rss, new_rank = _fit(design, y)
        rows.append({"term": " × ".join(a.short for a in term), "df": new_rank - rank, "ss": max(rss - new_rss, 0.0)})
        rss, rank = new_rss, new_rank
    cell_rss, cell_rank = _cell_fit(data["cell"], y)
    if cell_rank > rank:
        rows.append({"term": "higher-order interactions", "df": cell_rank - rank, "ss": max(rss - cell_rss, 0.0)})
    residual_df, residual_ss = len(y) - cell_rank, cell_rss
    residual = {"term": "residual (between seeds)", "df": residual_df, "ss": residual_ss}
    table = pd.DataFrame([*rows, residual, {"term": "total", "df": len(y) - 1, "ss": total_ss}])
    table["share"] = 100 * table["ss"] / total_ss if total_ss > 0 else np.nan
    table["f"], table["p"] = np.nan, np.nan
    if residual_df > 0 and residual_ss > 0:
        tested = (table.index < len(rows)) & (table["df"] > 0)
        mean_square = table.loc[tested, "ss"] / table.loc[tested, "df"]
        table.loc[tested, "f"] = mean_square / (residual_ss / residual_df)
        table.loc[tested, "p"] = stats.f.sf(table.loc[tested, "f"], table.loc[tested, "df"], residual_df)
    return table, _balanced(data, factors)


def _fit(design: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Residual sum of squares and rank of the least-squares fit of y on the design's columns."""
    beta, _, rank, _ = np.linalg.lstsq(design, y, rcond=None)  # its rank: matrix_rank's, without a second SVD
    residual = y - design @ beta
    return float(residual @ residual), int(rank)


def _cell_fit(cells: pd.Series, y: np.ndarray) -> tuple[float, int]:
    """`_fit` on one indicator column per cell, in closed form: the fit is each cell's mean. (The design
    itself, runs × cells, is 400 MB for 10,000 runs of 5,000 cells and its least squares take minutes.)"""
    means = pd.Series(y, index=cells.index).groupby(cells.to_numpy()).transform("mean").to_numpy()
    residual = y - means
    return float(residual @ residual), int(cells.nunique())


def _term_columns(data: pd.DataFrame, term: tuple[Axis, ...]) -> np.ndarray:
    """Design columns of a main effect (level indicators, first level dropped) or of an interaction
    (the products of its factors' columns)."""
    columns = np.ones((len(data), 1))
    for axis in term:
        dummies = np.stack([(data[axis.column] == level).to_numpy(float) for level in axis.levels[1:]], axis=1)
        columns = (columns[:, :, None] * dummies[:, None, :]).reshape(len(data), -1)
    return columns


def _balanced(data: pd.DataFrame, factors: Sequence[Axis]) -> bool:
    """Whether every combination of factor levels has runs, all with the same number of them."""
    if not factors:
        return True
    counts = data.groupby([a.column for a in factors]).size()
    combos = math.prod(len(a.levels) for a in factors)
    return len(counts) == combos and counts.nunique() == 1


def interacting_axes(per_run: pd.DataFrame, axes: Sequence[Axis], column: str | None = None) -> frozenset[str]:
    """The axes (short names) in a two-way interaction the ANOVA of `column` resolves: see `interacting_in`."""
    return interacting_in(anova(per_run, axes, column)[0], axes)


def interacting_in(table: pd.DataFrame, axes: Sequence[Axis]) -> frozenset[str]:
    """The axes (short names) in a two-way interaction an `anova` table resolves (F test, p < 0.05): their
    levels are compared within each level of the other axes (simple effects), the rest averaged over them."""
    names = {a.short for a in factor_axes(axes)}
    pairs = [term.split(" × ") for term, p in zip(table["term"], table["p"]) if " × " in term and p < ALPHA]
    return frozenset(name for pair in pairs for name in pair if name in names)
