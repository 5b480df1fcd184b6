"""Two study runs side by side: the cells they share, how each metric moved from A to B, and whether
the move is beyond seed noise (Welch's interval on the difference, as in the report's ranking).

Cells are matched by their axis values (the grid point, not the exact settings), so a change made
outside the grid (`--set train.iterations=500`) is what the comparison measures. Pure computation."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from study.analysis.statistics import CONFIDENCE, STAT_COLUMNS, run_stats, welch_interval
from study.errors import StudyError
from study.plan.grid import NOT_IDENTITY
from study.store.reader import FINISHED, StudyRuns

DEFAULT_METRICS = ("final_test_acc",)
VERDICTS = {
    "changed": "the confidence interval of B − A excludes 0: a change beyond seed noise",
    "within noise": "the interval includes 0: the seeds do not tell A and B apart",
    "needs seeds": "A or B has fewer than two finished seeds: noise cannot be estimated",
    "no finished run": "the cell has no finished run in A or in B",
    "same runs": "both list the very same runs (B reused A's finished cells)",
}
COLUMNS = ["cell", "metric", "n_a", "n_b", "mean_a", "mean_b", "diff", "ci_lo", "ci_hi", "verdict"]


@dataclass
class Comparison:
    """B against A: one row per shared cell and metric, the cells only one of them has, the settings that differ."""

    a: StudyRuns
    b: StudyRuns
    table: pd.DataFrame  # COLUMNS; diff = mean_b − mean_a
    only_a: list[str]
    only_b: list[str]
    settings: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (value in A, value in B)
    confidence: float = CONFIDENCE

    def label(self, side: str) -> str:
        """`A: run <id> of study 'x' (<run name>)`."""
        runs = self.a if side == "A" else self.b
        return f"{side}: run {runs.parent.info.run_id} of study {runs.study!r} ({runs.parent.info.run_name})"

    def counts(self) -> dict[str, int]:
        """How many rows got each verdict."""
        return {v: int((self.table["verdict"] == v).sum()) for v in VERDICTS if (self.table["verdict"] == v).any()}

    def text(self) -> str:
        """The comparison as the plain-text table `study compare` prints."""
        lines = [self.label("A"), self.label("B")]
        if self.settings:
            lines.append("settings that differ: " + "; ".join(f"{k} {a} → {b}" for k, (a, b) in self.settings.items()))
        if self.table.empty:
            lines.append("no cells in common")
        width = max([len("cell"), *(len(c) for c in self.table["cell"])])
        for metric, rows in self.table.groupby("metric", sort=False):
            ci = f"{self.confidence:.0%} CI of B − A"
            lines += [
                "",
                f"{metric}:",
                f"{'cell':<{width}}  {'seeds':>5}  {'A':>9} {'B':>9} {'B − A':>9}  {ci:<22} verdict",
            ]
            for r in rows.itertuples():
                interval = "–" if pd.isna(r.ci_lo) else f"[{r.ci_lo:+.4f}, {r.ci_hi:+.4f}]"
                lines.append(
                    f"{r.cell:<{width}}  {f'{r.n_a}/{r.n_b}':>5}  {_num(r.mean_a):>9} {_num(r.mean_b):>9} "
                    f"{_num(r.diff, '{:+.4f}'):>9}  {interval:<22} {r.verdict}"
                )
        for side, cells in (("A", self.only_a), ("B", self.only_b)):
            if cells:
                lines.append(f"only in {side}: {', '.join(cells)}")
        if not self.table.empty:
            lines.append(", ".join(f"{n} {v}" for v, n in self.counts().items()))
        return "\n".join(lines)


def compare_runs(
    a: StudyRuns, b: StudyRuns, metrics: tuple[str, ...] = DEFAULT_METRICS, confidence: float = CONFIDENCE
) -> Comparison:
    """Compare B with A cell by cell; StudyError when their axes differ or a metric is unknown."""
    if a.parent.info.run_id == b.parent.info.run_id:
        raise StudyError(f"A and B are the same run ({a.parent.info.run_id}): give two different parent runs")
    axes_a, axes_b = [x.short for x in a.axes], [x.short for x in b.axes]
    if sorted(axes_a) != sorted(axes_b):
        raise StudyError(
            f"the two runs have different axes (A: {', '.join(axes_a) or 'none'}; B: {', '.join(axes_b) or 'none'}); "
            "compare needs the same axes"
        )
    per_a, per_b = run_stats(a), run_stats(b)
    for metric in metrics:
        if metric not in STAT_COLUMNS or metric not in per_a or metric not in per_b:
            valid = ", ".join(c for c in STAT_COLUMNS if c in per_a and c in per_b)
            raise StudyError(f"--metric: {metric!r} is not a statistic of both runs (valid: {valid})")
    columns = [f"axis.{short}" for short in axes_a]
    finals_a, finals_b = _finished(per_a, columns), _finished(per_b, columns)
    keys_a, keys_b = _cell_keys(per_a, columns), _cell_keys(per_b, columns)
    shared = [key for key in keys_a if key in keys_b]
    rows = [
        _row(keys_a[key], metric, finals_a.get(key), finals_b.get(key), confidence)
        for metric in metrics
        for key in shared
    ]
    return Comparison(
        a=a,
        b=b,
        table=pd.DataFrame(rows, columns=COLUMNS),
        only_a=[keys_a[k] for k in keys_a if k not in keys_b],
        only_b=[keys_b[k] for k in keys_b if k not in keys_a],
        settings=setting_changes(a, b),
        confidence=confidence,
    )


def setting_changes(a: StudyRuns, b: StudyRuns) -> dict[str, tuple[str, str]]:
    """The settings fixed in both runs whose values differ, and those fixed in one only ('–' in the other);
    where the data lives and engine knobs (not part of a cell's identity) left out."""
    skip = {f"{section}.{name}" for section, name in NOT_IDENTITY}
    keys = sorted((set(a.fixed) | set(b.fixed)) - skip)
    return {k: (a.fixed.get(k, "–"), b.fixed.get(k, "–")) for k in keys if a.fixed.get(k) != b.fixed.get(k)}


def _cell_keys(per_run: pd.DataFrame, columns: list[str]) -> dict[tuple, str]:
    """Axis values -> cell name, in grid order."""
    first = per_run.drop_duplicates("cell")
    return {tuple(row[c] for c in columns): row["cell"] for _, row in first.iterrows()}


def _finished(per_run: pd.DataFrame, columns: list[str]) -> dict[tuple, pd.DataFrame]:
    """Axis values -> the cell's finished runs."""
    done = per_run[per_run["status"] == FINISHED]
    return {key if isinstance(key, tuple) else (key,): rows for key, rows in done.groupby(columns, sort=False)}


def _row(cell: str, metric: str, a: pd.DataFrame | None, b: pd.DataFrame | None, confidence: float) -> dict:
    """One shared cell and metric: both means, B − A, Welch's interval when both have two seeds, the verdict."""
    xa = _values(a, metric)
    xb = _values(b, metric)
    diff, lo, hi, _ = welch_interval(list(xb), list(xa), confidence) if len(xa) and len(xb) else (np.nan,) * 4
    same = a is not None and b is not None and set(a["run_id"]) == set(b["run_id"])
    if same:
        verdict = "same runs"
    elif not len(xa) or not len(xb):
        verdict = "no finished run"
    elif np.isnan(lo):
        verdict = "needs seeds"
    else:
        verdict = "changed" if lo > 0 or hi < 0 else "within noise"
    return {
        "cell": cell,
        "metric": metric,
        "n_a": len(xa),
        "n_b": len(xb),
        "mean_a": xa.mean() if len(xa) else np.nan,
        "mean_b": xb.mean() if len(xb) else np.nan,
        "diff": diff,
        "ci_lo": lo,
        "ci_hi": hi,
        "verdict": verdict,
    }


def _values(runs: pd.DataFrame | None, metric: str) -> np.ndarray:
    """The finite values of a metric over a cell's finished runs."""
    if runs is None:
        return np.array([])
    values = runs[metric].to_numpy(float)
    return values[np.isfinite(values)]


def _num(value: float, fmt: str = "{:.4f}") -> str:
    return "–" if pd.isna(value) else fmt.format(value)
