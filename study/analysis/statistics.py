"""The statistics of one study run: per-run and per-cell tables, confidence intervals, per-layer
diagnostics, the comparison of the best cells and the factor effects (main effects, interactions, ANOVA).

Pure computation over the read model of study/store/reader.py (`StudyRuns`, `Axis`): nothing
is read from the store here, nothing is drawn or written.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from study.store.reader import FINISHED, Axis, StudyRuns
from study.task import Task, task_of_columns

SPEED_FRACTIONS = {"iters_to_50pct": 0.5, "iters_to_90pct": 0.9}
"""Learning speed: first eval step where test accuracy reaches this fraction of the run's final."""

STAT_COLUMNS = (
    "final_test_acc",
    "best_test_acc",
    "final_train_acc",
    "gap",
    *SPEED_FRACTIONS,
    "wall_time_s",
    "grad_ratio",
)
"""Per-run statistics that `summarize` averages over seeds (`grad_ratio` only where diagnostics were logged).
A regression study's have its task's names instead (`stat_columns`)."""


def stat_columns(task: Task) -> tuple[str, ...]:
    """STAT_COLUMNS with the task's score: final_test_mae, best_test_mae, final_train_mae, gap, … for regression
    (no learning-speed columns: "reaching a fraction of the final value" assumes a score that rises)."""
    if task.score == "acc":
        return STAT_COLUMNS
    return (*task.summary_metrics, "gap", "wall_time_s", "grad_ratio")


CONFIDENCE = 0.95
TOP_CELLS = 3  # the pairwise comparison: the best cell against each of the next TOP_CELLS − 1
CHANCE_FACTOR = 1.5
"""A run 'did not learn' when its final test accuracy is at most CHANCE_FACTOR / n_classes."""

LAYER_KINDS = ("conv", "dense", "act")
"""Layer-name prefixes in depth order: convolutions come before the dense layers in every stack."""

SATURATING = ("sigmoid", "tanh")  # activations whose `act_saturated` is measured (study/engine/diagnostics.py)
DEAD_UNITS = ("relu",)  # activations whose `act_dead` is measured


def run_stats(study: StudyRuns) -> pd.DataFrame:
    """One row per cell × seed: the task's scores (accuracies, or errors for regression), the train–test
    gap (positive: the test set does worse), learning speed (classification), wall time and failure."""
    task, runs = study.task, study.runs.set_index("run_id")
    final, best, train = task.summary_metrics[:3]
    test = study.curve(f"test_{task.score}")
    out = runs[["cell", "seed", "status", *(a.column for a in study.axes)]].copy()
    out[final] = runs[final].fillna(_last(test))
    by_run = test.groupby("run_id")["value"]
    out[best] = runs[best].fillna(by_run.max() if task.higher_is_better else by_run.min())
    out[train] = runs[train].fillna(_last(study.curve(f"train_{task.score}")))
    if task.score != "acc":
        for extra in task.summary_metrics[3:]:
            out[extra] = runs[extra]
    out["gap"] = (out[train] - out[final]) if task.higher_is_better else (out[final] - out[train])
    if task.score == "acc":
        for column, fraction in SPEED_FRACTIONS.items():
            out[column] = _first_step_reaching(test, out[final] * fraction)
    out["wall_time_s"] = runs["wall_time_s"]
    out["iterations"] = study.curves.groupby("run_id")["step"].max()
    out["diverged_step"] = _first_nonfinite_step(study.curves[study.curves["metric"].isin(["train_loss", "test_loss"])])
    out[["failure", "failure_step"]] = runs[["failure", "failure_step"]]
    if has_metric(study, "grad_norm/"):
        out["grad_ratio"] = grad_ratio(study)
    return out.reset_index()


def summarize(per_run: pd.DataFrame, axes: Sequence[Axis], confidence: float = CONFIDENCE) -> pd.DataFrame:
    """One row per cell: mean and CI half-width of each statistic over its finished seeds, best first."""
    summary = per_run.drop_duplicates("cell").set_index("cell")[[a.column for a in axes]]
    summary["n_runs"] = per_run.groupby("cell").size()
    finished = per_run[per_run["status"] == FINISHED].groupby("cell")
    summary["n_seeds"] = finished.size().reindex(summary.index, fill_value=0)
    task = task_of_columns(per_run.columns)
    for column in (c for c in stat_columns(task) if c in per_run):
        values = finished[column]
        summary[f"{column}_mean"] = values.mean()
        summary[f"{column}_ci"] = ci_halfwidth(values.std(ddof=1), values.count(), confidence)
    ascending = not task.higher_is_better
    summary = summary.sort_values(f"{task.primary}_mean", ascending=ascending, na_position="last", kind="stable")
    summary = summary.reset_index()
    summary.insert(0, "rank", range(1, len(summary) + 1))
    return summary


def ci_halfwidth(std: pd.Series, n: pd.Series, confidence: float = CONFIDENCE) -> pd.Series:
    """Half-width of the Student-t confidence interval of a mean (n − 1 dof); NaN when n < 2."""
    dof = n.astype(float) - 1
    quantile = stats.t.ppf((1 + confidence) / 2, dof.where(dof > 0))
    return quantile * std / np.sqrt(n.astype(float))


def curve_band(curve: pd.DataFrame, confidence: float = CONFIDENCE) -> pd.DataFrame:
    """Per cell and step: mean over seeds and its confidence band (the band is the mean for one seed)."""
    band = curve.groupby(["cell", "step"])["value"].agg(["mean", "std", "count"]).reset_index()
    half = ci_halfwidth(band["std"], band["count"], confidence).fillna(0.0)
    band["lo"], band["hi"] = band["mean"] - half, band["mean"] + half
    return band


def axis_pivot(summary: pd.DataFrame, rows: Axis, cols: Axis, value: str = "final_test_acc_mean") -> pd.DataFrame:
    """Mean of a summary column over two axes (averaged over the other axes), levels in grid order."""
    table = summary.groupby([rows.column, cols.column])[value].mean().unstack()
    return table.reindex(index=list(rows.levels), columns=list(cols.levels))


def chance_threshold(n_classes: int) -> float:
    """Test accuracy at or below which a run is taken as not having learned."""
    return CHANCE_FACTOR / n_classes


def _last(curve: pd.DataFrame) -> pd.Series:
    """Per run, the value at the largest step (curves are sorted by step)."""
    return curve.groupby("run_id")["value"].last()


def _first_step_reaching(curve: pd.DataFrame, targets: pd.Series) -> pd.Series:
    """Per run, the first step whose value is at least the run's target."""
    merged = curve.join(targets.rename("target"), on="run_id")
    return merged[merged["value"] >= merged["target"]].groupby("run_id")["step"].min()


def _first_nonfinite_step(curves: pd.DataFrame) -> pd.Series:
    """Per run, the first step where any of the given metrics is NaN or infinite."""
    return curves[~np.isfinite(curves["value"])].groupby("run_id")["step"].min()


# ---------------------------------------------------------------------------- per-layer diagnostics


def has_metric(study: StudyRuns, prefix: str) -> bool:
    """Whether any run logged a metric whose name starts with prefix (e.g. `grad_norm/`)."""
    return bool(study.curves["metric"].str.startswith(prefix).any())


def layer_depth(layer: str) -> tuple[int, int, str]:
    """Sort key putting layer names in depth order: conv_1, conv_2, …, dense_1, dense_2, …; act_1, …"""
    kind, _, number = layer.rpartition("_")
    rank = LAYER_KINDS.index(kind) if kind in LAYER_KINDS else len(LAYER_KINDS)
    return rank, int(number) if number.isdigit() else 0, layer


def layer_curves(study: StudyRuns, stat: str) -> pd.DataFrame:
    """The rows of every `<stat>/<layer>` metric with a `layer` column, layers in depth order."""
    rows = study.curves[study.curves["metric"].str.startswith(f"{stat}/")].copy()
    rows["layer"] = rows["metric"].str.slice(len(stat) + 1)
    order = sorted(rows["layer"].unique(), key=layer_depth)
    rows["layer"] = pd.Categorical(rows["layer"], categories=order, ordered=True)
    return rows.sort_values(["run_id", "layer", "step"], kind="stable")


def grad_ratio(study: StudyRuns) -> pd.Series:
    """Per run: the last logged gradient norm of its first kernel layer divided by that of its last."""
    final = layer_curves(study, "grad_norm").groupby(["run_id", "layer"], observed=True)["value"].last()
    ratios = {}
    for run_id, norms in final.groupby(level="run_id"):
        norms = norms.droplevel("run_id").dropna()
        if len(norms) >= 2 and norms.iloc[-1] > 0:
            ratios[run_id] = norms.iloc[0] / norms.iloc[-1]
    return pd.Series(ratios, dtype=float)


def layer_activations(run: pd.Series) -> dict[str, str]:
    """A run's hidden activation layers (`act_k`) -> activation function: as the engine recorded them
    from the built model (`layer_activations`), else — for runs stored before that tag existed —
    rebuilt from the params the way study/engine/model.py names its layers."""
    recorded = run.get("layer_activations")
    if isinstance(recorded, str):
        return json.loads(recorded)
    return _activations_from_params(run)


def _activations_from_params(params: pd.Series) -> dict[str, str]:
    """The pre-tag rule: a `model.hidden` net uses `model.activation` after every hidden dense layer;
    an explicit `model.layers` stack has an act layer per dense layer with an `activation` and per
    `activation` layer (whose name defaults to `model.activation`)."""
    default = params.get("params.model.activation")
    stack = _json_or_none(params.get("params.model.layers"))
    if stack is None:
        hidden = _json_or_none(params.get("params.model.hidden")) or []
        names = [default] * len(hidden)
    else:
        names = [
            s.get("activation") if s.get("type") == "dense" else s.get("name") or default
            for s in stack
            if s.get("type") == "activation" or (s.get("type") == "dense" and s.get("activation"))
        ]
    return {f"act_{k}": name for k, name in enumerate(names, start=1) if name}


def _json_or_none(text) -> list | None:
    """A JSON list param, None when absent or not a list (e.g. the text 'None')."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, list) else None


# ---------------------------------------------------------------------------- replicates and factors


def welch_interval(a: Sequence[float], b: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, ...]:
    """(mean(a) − mean(b), CI low, CI high, dof): Welch's interval, Welch–Satterthwaite degrees of freedom.

    Needs two values in each sample (else the bounds and dof are NaN); with no spread at all the
    interval is the difference itself.
    """
    xa, xb = np.asarray(a, float), np.asarray(b, float)
    diff = xa.mean() - xb.mean() if len(xa) and len(xb) else np.nan
    if len(xa) < 2 or len(xb) < 2:
        return diff, np.nan, np.nan, np.nan
    va, vb = xa.var(ddof=1) / len(xa), xb.var(ddof=1) / len(xb)
    se = np.sqrt(va + vb)
    if se == 0:
        return diff, diff, diff, np.inf
    dof = (va + vb) ** 2 / (va**2 / (len(xa) - 1) + vb**2 / (len(xb) - 1))
    half = stats.t.ppf((1 + confidence) / 2, dof) * se
    return diff, diff - half, diff + half, dof


def compare_top(
    per_run: pd.DataFrame, summary: pd.DataFrame, top: int = TOP_CELLS, confidence: float = CONFIDENCE
) -> pd.DataFrame:
    """The best cell against each of the next ones by mean final test accuracy: Welch CI and verdict.

    Verdict: `resolved` when the interval excludes 0, `within noise` when it does not, and
    `needs replicates` when a cell has fewer than two finished seeds.
    """
    values = _finished_finals(per_run).groupby("cell")[primary(per_run)].apply(list)
    ranked = [cell for cell in summary["cell"] if cell in values.index][:top]
    rows = []
    for other in ranked[1:]:
        diff, lo, hi, dof = welch_interval(values[ranked[0]], values[other], confidence)
        verdict = "needs replicates" if np.isnan(lo) else "resolved" if lo > 0 or hi < 0 else "within noise"
        rows.append(
            {
                "best": ranked[0],
                "other": other,
                "n_best": len(values[ranked[0]]),
                "n_other": len(values[other]),
                "diff": diff,
                "ci_lo": lo,
                "ci_hi": hi,
                "dof": dof,
                "verdict": verdict,
            }
        )
    columns = ["best", "other", "n_best", "n_other", "diff", "ci_lo", "ci_hi", "dof", "verdict"]
    return pd.DataFrame(rows, columns=columns)


def factor_axes(axes: Sequence[Axis]) -> list[Axis]:
    """The axes that act as factors: every axis with at least two levels (its levels are categories)."""
    return [axis for axis in axes if len(axis.levels) >= 2]


def cell_means(per_run: pd.DataFrame, axes: Sequence[Axis]) -> pd.DataFrame:
    """One row per cell with a finished run: its axis values, mean final test accuracy and seed count."""
    finals = _finished_finals(per_run)
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


def anova(per_run: pd.DataFrame, axes: Sequence[Axis]) -> tuple[pd.DataFrame, bool]:
    """Sums of squares of the per-run final test accuracies by factor and two-way interaction.

    Terms enter a least-squares fit one after another (main effects in axis order, then the pairs);
    each term's SS is the drop in residual SS it brings (sequential, 'type I'). On a balanced
    complete grid these are the classical two-way ANOVA sums of squares, independent of the order;
    otherwise they depend on it (the second value, `balanced`, is then False). What the cells
    explain beyond the pairs is `higher-order interactions`; the spread between seeds of one cell is
    the residual, against which F and p are computed when it has degrees of freedom.
    Returns (rows term / df / ss / share % / F / p, ending in residual and total; balanced).
    """
    data = _finished_finals(per_run)
    factors = factor_axes(axes)
    y = data[primary(per_run)].to_numpy(float)
    design = np.ones((len(y), 1))
    rss, rank = _fit(design, y)
    total_ss = float(((y - y.mean()) ** 2).sum())
    rows = []
    for term in [(a,) for a in factors] + list(itertools.combinations(factors, 2)):
        design = np.hstack([design, _term_columns(data, term)])
        new_rss, new_rank = _fit(design, y)
        rows.append({"term": " × ".join(a.short for a in term), "df": new_rank - rank, "ss": max(rss - new_rss, 0.0)})
        rss, rank = new_rss, new_rank
    cell_rss, cell_rank = _fit(pd.get_dummies(data["cell"]).to_numpy(float), y)
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


def primary(per_run: pd.DataFrame) -> str:
    """The column that ranks and compares runs: the task's primary metric (final_test_acc, final_test_mae)."""
    return task_of_columns(per_run.columns).primary


def _finished_finals(per_run: pd.DataFrame) -> pd.DataFrame:
    """The finished runs that have a finite final test score."""
    return per_run[(per_run["status"] == FINISHED) & np.isfinite(per_run[primary(per_run)].astype(float))]


def _fit(design: np.ndarray, y: np.ndarray) -> tuple[float, int]:
    """Residual sum of squares and rank of the least-squares fit of y on the design's columns."""
    beta, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ beta
    return float(residual @ residual), int(np.linalg.matrix_rank(design))


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
