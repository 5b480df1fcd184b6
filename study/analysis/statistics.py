"""The statistics of one study run: per-run and per-cell tables, confidence intervals and the
comparison of the best cells. Pure computation over the store's read model: nothing read, drawn or written."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from study.analysis.layer_stats import grad_ratio, has_metric
from study.spec.adaptive import ERROR_RATE
from study.spec.task import Task, task_of_columns
from study.store.reader import FINISHED, Axis, StudyRuns

SPEED_FRACTIONS = {"iters_to_50pct": 0.5, "iters_to_90pct": 0.9}
"""Learning speed: the first eval step where test accuracy reaches this fraction of the best cell's mean
final test accuracy: one bar for every cell (a fraction of a run's own final would time a cell stuck at
chance as the fastest). NaN where the run never reaches it."""

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
        return (*STAT_COLUMNS, *validation_columns(task), *task.own_summary_metrics)
    return (*task.summary_metrics, "gap", "wall_time_s", "grad_ratio")


def validation_columns(task: Task) -> tuple[str, ...]:
    """The validation scores a run has with `data.validation`: final and best."""
    return (f"final_val_{task.score}", f"best_val_{task.score}") if task.validation else ()


CONFIDENCE = 1 - ERROR_RATE
TOP_CELLS = 3  # the pairwise comparison: the best cell against each of the next TOP_CELLS − 1
CHANCE_FACTOR = 1.5
"""A run 'did not learn' when its final test accuracy is at most CHANCE_FACTOR / n_classes."""


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
    extras = task.summary_metrics[3:] if task.score != "acc" else (*validation_columns(task), *task.own_summary_metrics)
    for extra in extras:
        out[extra] = runs[extra] if extra in runs else math.nan
    out["gap"] = (out[train] - out[final]) if task.higher_is_better else (out[final] - out[train])
    if task.score == "acc":
        bar = speed_bar(out, final)
        for column, fraction in SPEED_FRACTIONS.items():
            out[column] = _first_step_reaching(test, pd.Series(bar * fraction, index=out.index))
    out["wall_time_s"] = runs["wall_time_s"]
    out["iterations"] = study.curves.groupby("run_id")["step"].max()
    out["diverged_step"] = _first_nonfinite_step(study.curves[study.curves["metric"].isin(["train_loss", "test_loss"])])
    out[["failure", "failure_step"]] = runs[["failure", "failure_step"]]
    for column in ("stopped_at", "model"):  # where early stopping ended the run; the model it kept, or why none
        if column in runs:
            out[column] = runs[column]
    if has_metric(study, "grad_norm/"):
        out["grad_ratio"] = grad_ratio(study)
    return out.reset_index()


def speed_bar(per_run: pd.DataFrame, final: str = "final_test_acc") -> float:
    """The accuracy the learning-speed fractions are of: the best cell's mean final test accuracy over its
    finished seeds (NaN when no run finished)."""
    finished = per_run[per_run["status"] == FINISHED]
    return float(finished.groupby("cell")[final].mean().max()) if len(finished) else math.nan


def summarize(
    per_run: pd.DataFrame, axes: Sequence[Axis], confidence: float = CONFIDENCE, rank_by: str | None = None
) -> pd.DataFrame:
    """One row per cell: mean and CI half-width of each statistic over its finished seeds, best first by
    `rank_by` (default: the task's primary metric)."""
    summary = per_run.drop_duplicates("cell").set_index("cell")[[a.column for a in axes]]
    summary["n_runs"] = per_run.groupby("cell").size()
    finished = per_run[per_run["status"] == FINISHED].groupby("cell")
    summary["n_seeds"] = finished.size().reindex(summary.index, fill_value=0)
    task = task_of_columns(per_run.columns)
    for column in (c for c in stat_columns(task) if c in per_run):
        values = finished[column]
        summary[f"{column}_mean"] = values.mean()
        summary[f"{column}_ci"] = ci_halfwidth(values.std(ddof=1), values.count(), confidence)
        if column in SPEED_FRACTIONS:  # a mean over only the seeds that got there would flatter the cell
            reached = values.count().reindex(summary.index, fill_value=0)
            summary[f"{column}_reached"] = reached
            short = reached < summary["n_seeds"]
            summary.loc[short, [f"{column}_mean", f"{column}_ci"]] = math.nan
    ascending = not task.higher_is_better
    rank = f"{rank_by or task.primary}_mean"
    summary = summary.sort_values(rank, ascending=ascending, na_position="last", kind="stable")
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


# ---------------------------------------------------------------------------- replicates


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
    per_run: pd.DataFrame,
    summary: pd.DataFrame,
    top: int = TOP_CELLS,
    confidence: float = CONFIDENCE,
    column: str | None = None,
) -> pd.DataFrame:
    """The best cell against each of the next ones by mean `column` (default: the final test score): Welch CI
    and verdict.

    Verdict: `resolved` when the interval excludes 0, `within noise` when it does not, and
    `needs replicates` when a cell has fewer than two finished seeds.
    """
    column = column or primary(per_run)
    values = finished_finals(per_run, column).groupby("cell")[column].apply(list)
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


def primary(per_run: pd.DataFrame) -> str:
    """The column that ranks and compares runs: the task's primary metric (final_test_acc, final_test_mae)."""
    return task_of_columns(per_run.columns).primary


def finished_finals(per_run: pd.DataFrame, column: str | None = None) -> pd.DataFrame:
    """The finished runs that have a finite value of `column` (default: the final test score)."""
    values = pd.to_numeric(per_run[column or primary(per_run)], errors="coerce")
    return per_run[(per_run["status"] == FINISHED) & np.isfinite(values)]
