"""The report of a study with adaptive seeds (`seeds: {min, max, until: resolved}`): per comparison how many
seeds it took and its verdict, per cell the seeds it got, and the Answer's evidence — read from the parent's
rounds.json (study/execution/rounds.py)."""

from __future__ import annotations

import pandas as pd

from study.plan.sequential import RESOLVED
from study.reporting.context import ReportContext
from study.reporting.findings import named
from study.reporting.html_parts import esc, section, table


def rounds_section(ctx: ReportContext) -> str:
    """'Seeds decided by the study': the design, one row per comparison, one per cell."""
    if not ctx.rounds:
        return ""
    last = ctx.rounds[-1]
    rows = [comparison_row(ctx, c) for c in last["comparisons"]]
    head = ["axis", "within", "better − worse", "difference", "confidence sequence", "seeds it took", "verdict"]
    cells = [[esc(cell), str(n), str(first_round_with(ctx.rounds, cell, n))] for cell, n in last["seeds"].items()]
    return section(
        "Seeds decided by the study",
        f"<p>{esc(design_sentence(ctx))}</p>"
        + table(head, rows, numeric=range(3, 6))
        + table(["cell", "seeds", "its last seed came in round"], cells, numeric=range(1, 3))
        + f'<p class="note">{esc(method_note(last))}</p>',
    )


def comparison_row(ctx: ReportContext, c: dict) -> list[str]:
    """One comparison, oriented better − worse by the metric's direction."""
    better, worse, diff, lo, hi = oriented(ctx, c)
    ci = "–" if lo is None else f"[{lo:+.4f}, {hi:+.4f}]"
    took = c["resolved_at"] if c["resolved_at"] else c["n"]
    verdict = f"<strong>{esc(c['verdict'])}</strong>" if c["verdict"] == RESOLVED else esc(c["verdict"])
    return [
        esc(c["axis"]),
        esc(c["within"]),
        esc(f"{better} − {worse}"),
        esc(f"{diff:+.4f}"),
        esc(ci),
        str(took),
        verdict,
    ]


def oriented(ctx: ReportContext, c: dict) -> tuple[str, str, float, float | None, float | None]:
    """(better, worse, better − worse, interval low, high): flipped when `second` is the better level."""
    diff = c["diff"] if c["diff"] is not None else float("nan")
    flip = diff * ctx.metric.sign() < 0
    lo, hi = c["ci_lo"], c["ci_hi"]
    if not flip:
        return c["first"], c["second"], diff, lo, hi
    return c["second"], c["first"], -diff, (None if hi is None else -hi), (None if lo is None else -lo)


def first_round_with(rounds: list[dict], cell: str, seeds: int) -> int:
    """The round whose reading first had the cell at its final seed count (round 1: the first seeds)."""
    return next((r["round"] for r in rounds if r["seeds"].get(cell) == seeds), len(rounds))


def design_sentence(ctx: ReportContext) -> str:
    """'min 2, max 10 seeds per cell: 4 rounds, 14 runs, where a fixed seeds: 10 takes 30 (53 % fewer);
    3 of 3 comparisons resolved.'"""
    rounds = ctx.rounds or []
    last = rounds[-1]
    design, seeds = last["design"], last["seeds"]
    runs, fixed = sum(seeds.values()), len(seeds) * design["max"]
    budget = f", budget {design['budget']} runs" if design.get("budget") else ""
    resolved = sum(c["verdict"] == RESOLVED for c in last["comparisons"])
    return (
        f"Seeds were added in rounds (min {design['min']}, max {design['max']} per cell{budget}): "
        f"{len(rounds)} rounds, {runs} runs, where a fixed seeds: {design['max']} takes {fixed} "
        f"({1 - runs / fixed:.0%} fewer); {resolved} of {len(last['comparisons'])} comparisons resolved. "
        f"Last decision: {last['reason']}."
    )


def method_note(last: dict) -> str:
    m = len(last["comparisons"])
    return (
        f"Each comparison is the paired per-seed difference of {last['metric']}, judged after every round by an "
        "anytime-valid confidence sequence (the normal-mixture t e-process of Lai 1976 and Wang & Ramdas 2025), "
        f"each at level 1 − 0.05/{m} (Bonferroni over the {m} comparisons): the family-wise error stays at 5 % "
        "however many rounds ran. Resolved: the sequence excluded 0 at some number of seeds ('seeds it took'); "
        "the interval is the intersection over all of them. The Findings and the comparisons table below use "
        "fixed-sample intervals: descriptive here, as the number of seeds depended on the data; the verdicts "
        "above are the ones that hold. See docs/adaptive_seeds.md."
    )


def adaptive_evidence(ctx: ReportContext, best: pd.Series) -> str | None:
    """The Answer's evidence for the best cell from the rounds: 'with seeds added until resolved (2 to 5 per
    cell, 14 runs), its lr=0.1 beats lr=0.01 and lr=0.03 beyond seed noise (anytime-valid 95 % …)'."""
    if not ctx.rounds:
        return None
    last = ctx.rounds[-1]
    claims = []
    for axis in ctx.study.axes:
        level = str(best.get(axis.column, ""))
        others = ", ".join(f"{a.short}={best.get(a.column, '')}" for a in ctx.study.axes if a is not axis)
        rows = [
            c
            for c in last["comparisons"]
            if c["axis"] == axis.short and level in (c["first"], c["second"]) and c["within"] in ("overall", others)
        ]
        if rows:
            claims.append(level_claim(ctx, axis.short, level, rows))
    seeds = last["seeds"].values()
    span = f"{min(seeds)} to {max(seeds)}" if min(seeds) != max(seeds) else f"{min(seeds)}"
    text = f"with seeds added until resolved ({span} per cell, {sum(seeds)} runs in {len(ctx.rounds)} rounds)"
    if claims:
        text += ", " + "; ".join(claims)
    return text + " (anytime-valid 95 % confidence sequences)"


def level_claim(ctx: ReportContext, axis: str, level: str, rows: list[dict]) -> str:
    """'its lr=0.1 beats lr=0.01 and lr=0.03 beyond seed noise and is within noise of …'."""
    beaten: list[str] = []
    tied: list[str] = []
    behind: list[str] = []
    for c in rows:
        better, worse, *_ = oriented(ctx, c)
        other = worse if better == level else better
        if c["verdict"] != RESOLVED:
            tied.append(other)
        else:
            (beaten if better == level else behind).append(other)
    parts = [f"beats {named(beaten)} beyond seed noise"] if beaten else []
    parts += [f"is within noise of {named(tied)}"] if tied else []
    parts += [f"is behind {named(behind)}"] if behind else []
    name = level if level.startswith(f"{axis}=") else f"{axis} {level}"
    return f"its {name} " + " and ".join(parts)
