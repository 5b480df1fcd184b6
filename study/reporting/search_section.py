"""The report's search section: for a study run as a search, its trials read from the search's Optuna study
(optuna.db beside the MLflow database), the objective over trials with the best so far, Optuna's
parallel-coordinates figure and parameter importances (fANOVA), and the best trial's learning curves.

Only a parent run tagged `study.search` has one; Optuna and matplotlib are imported inside the functions.
"""

from __future__ import annotations

import base64
import html
import io
import warnings
from typing import Any

import pandas as pd

from study.reporting.context import ReportContext, ReportFigure
from study.reporting.pareto_section import front_table, objectives_line, pareto_figure
from study.reporting.search_report import WITHIN, SearchReport
from study.store.contract import Tag

RUNS_ATTR, RETRY_ATTR, REPEAT_ATTR = "study.runs", "study.retry_of", "study.repeat"  # study/execution/trials.py
SPREAD_ATTR = "study.spread"  # a trial over several seeds: each objective's standard deviation over them
SPEC_ATTR = "study.search"  # Optuna study user attr: the `search:` section it runs


def read_search(tracking_uri: str, parent, ctx: ReportContext) -> SearchReport | None:
    """The search report of a parent run tagged `study.search`, figures drawn; None for a grid's parent."""
    from study.store.search_home import find_optuna_study, search_home

    name = parent.data.tags.get(Tag.SEARCH)
    ostudy = find_optuna_study(search_home(tracking_uri), name) if name else None
    if ostudy is None:
        return None
    spec = ostudy.user_attrs.get(SPEC_ATTR, {})
    report = SearchReport(
        name=name,
        spec=spec,
        objectives=objectives(ostudy, spec),
        trials=trials_frame(ostudy),
        importances=None,
        importance_note="",
    )
    report.importances, report.importance_note = importances(ostudy)
    report.figures = draw(report, ostudy, ctx)
    return report


def objectives(ostudy, spec: dict[str, Any]) -> list[tuple[str, bool]]:
    """(metric, maximize) per objective of the search, from its `search:` section and Optuna's directions."""
    names = [next(iter(entry)) for entry in spec.get("metrics") or []] or [spec.get("metric", "objective")]
    return [(name, d.name == "MAXIMIZE") for name, d in zip(names, ostudy.directions)]


def trials_frame(ostudy) -> pd.DataFrame:
    """One row per trial: number, state, value (a pruned trial's: its last reported; several objectives: the
    first's, each under `value.<i>`, and whether it is on the Pareto front), params, runs."""
    several = len(ostudy.directions) > 1
    front = {t.number for t in ostudy.best_trials} if several else set()
    rows = []
    for t in ostudy.get_trials(deepcopy=False):
        last = max(t.intermediate_values) if t.intermediate_values else None
        values = t.values or []
        value = values[0] if values else None if last is None else t.intermediate_values[last]
        rows.append(
            {
                "number": t.number,
                "state": t.state.name,
                "value": value,
                "pruned_at": last if t.state.name == "PRUNED" else None,
                "duration_s": t.duration.total_seconds() if t.duration else None,
                "retry_of": t.user_attrs.get(RETRY_ATTR),
                "repeat": REPEAT_ATTR in t.user_attrs,
                "spread": next(iter(t.user_attrs.get(SPREAD_ATTR, {}).values()), None),  # the first objective's
                "run_ids": list(t.user_attrs.get(RUNS_ATTR, {}).values()),
                **({f"value.{i}": v for i, v in enumerate(values)} if several else {}),
                **({"front": t.number in front} if several else {}),
                **{f"param.{k}": v for k, v in t.params.items()},
            }
        )
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    done = frame["value"].where(frame["state"] == "COMPLETE")
    maximize = ostudy.directions[0].name == "MAXIMIZE"
    frame["best_so_far"] = done.cummax() if maximize else done.cummin()
    return frame


def importances(ostudy) -> tuple[dict[str, float] | None, str]:
    """Optuna's parameter importances over the complete trials (PED-ANOVA, which weighs a conditional
    parameter over the trials that sampled it; several objectives: the first's), or why there are none."""
    import optuna

    complete = [t for t in ostudy.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < 2:
        return None, "parameter importances need at least two complete trials"
    first = ostudy.directions[0].name == "MAXIMIZE"
    target = None if len(ostudy.directions) == 1 else (lambda t: -t.values[0]) if first else (lambda t: t.values[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PED-ANOVA's note that a target is minimised: it is, negated if need be
            return dict(optuna.importance.get_param_importances(ostudy, target=target)), ""
    except (RuntimeError, ValueError) as exc:  # e.g. every complete trial has the same parameters
        return None, f"no parameter importances: {exc}"


# --- figures -------------------------------------------------------------------------------------


def draw(report: SearchReport, ostudy, ctx: ReportContext) -> list[tuple[ReportFigure, bytes]]:
    """The section's figures as (figure, PNG) pairs."""
    figures = [history_figure(report)]
    if report.several and len(report.complete) >= 1:
        figures.append(pareto_figure(report))
    if len(report.complete) >= 2:
        figures.append(parallel_figure(ostudy, report.objectives[0][0] if report.several else None))
    if report.importances:
        figures.append(importance_figure(report.importances))
    best = best_curves_figure(report, ctx)
    if best is not None:
        figures.append(best)
    return [(f, png(f.figure)) for f in figures]


def history_figure(report: SearchReport) -> ReportFigure:
    """The objective per trial, in trial order, with the best so far as a step line."""
    from matplotlib.figure import Figure

    t, metric = report.trials, report.spec.get("metric", "objective")
    fig = Figure(figsize=(6.5, 3.2), dpi=100)
    ax = fig.subplots()
    for state, style in {"COMPLETE": ("o", "tab:blue"), "PRUNED": ("x", "tab:gray"), "FAIL": ("v", "tab:red")}.items():
        rows = t[(t["state"] == state) & t["value"].notna()]
        if not rows.empty:
            ax.plot(rows["number"], rows["value"], style[0], color=style[1], label=state.lower(), alpha=0.8)
    ax.step(t["number"], t["best_so_far"], where="post", color="tab:orange", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(metric)
    ax.legend(fontsize="small")
    fig.tight_layout()
    caption = (
        f"Each trial's {metric} (pruned trials: their last reported value, at the iteration they were stopped) "
        "and the best complete trial so far."
    )
    return ReportFigure("search-history", "Objective over trials", caption, fig)


def parallel_figure(ostudy, first: str | None) -> ReportFigure:
    """Optuna's parallel-coordinates plot of the complete trials (one line per trial, coloured by value; several
    objectives: by the `first`'s). A parameter a trial did not sample sits on its axis' `None` tick."""
    import optuna.visualization.matplotlib as vm
    from matplotlib import pyplot as plt
    from matplotlib.figure import Figure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
        if first is None:
            ax = vm.plot_parallel_coordinate(ostudy)
        else:
            ax = vm.plot_parallel_coordinate(ostudy, target=lambda t: t.values[0], target_name=first)
    fig = ax.get_figure(root=True)
    assert isinstance(fig, Figure)
    fig.set_size_inches(7.5, 3.8)
    fig.tight_layout()  # room for the rotated axis names
    plt.close(fig)  # Optuna draws through pyplot: keep its state from growing
    caption = (
        "Optuna's parallel coordinates: one line per complete trial through its parameter values; a parameter "
        "a trial did not sample (it takes no effect there) is on its axis' None tick."
    )
    return ReportFigure("search-parallel", "Parameters of the trials", caption, fig)


def importance_figure(values: dict[str, float]) -> ReportFigure:
    """The parameter importances as horizontal bars, most important on top."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.5, 0.5 + 0.4 * len(values)), dpi=100)
    ax = fig.subplots()
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (PED-ANOVA, sums to 1)")
    fig.tight_layout()
    caption = (
        "Optuna's parameter importances over the complete trials (PED-ANOVA: how differently the best trials' "
        "values of a parameter are spread from all trials'; a parameter sampled only where it takes effect is "
        "judged on the trials that sampled it; with several objectives, for the first; a guide, not a test)."
    )
    return ReportFigure("search-importance", "Parameter importances", caption, fig)


def best_curves_figure(report: SearchReport, ctx: ReportContext) -> ReportFigure | None:
    """Test and training accuracy of the best trial's runs (every seed), from the report's curves."""
    from matplotlib.figure import Figure

    best = report.best
    if best is None:
        return None
    curves = ctx.study.curves[ctx.study.curves["run_id"].isin(best["run_ids"])]
    if curves.empty:
        return None
    fig = Figure(figsize=(7.0, 2.8), dpi=100)
    axes = fig.subplots(1, 2)
    for ax, metric in zip(axes, ("test_acc", "train_loss")):
        for _, rows in curves[curves["metric"] == metric].groupby("run_id"):
            seed = rows["seed"].iloc[0]
            ax.plot(rows["step"], rows["value"], label=f"seed {seed}", linewidth=1)
        ax.set_xlabel("iteration")
        ax.set_ylabel(metric)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    title = f"Best trial ({int(best['number'])}): learning curves"
    return ReportFigure("search-best", title, "Test accuracy and training loss of the best trial's runs.", fig)


def png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# --- html ------------------------------------------------------------------------------------------


def search_section(ctx: ReportContext) -> str:
    """The section's HTML; empty for a grid study."""
    report = getattr(ctx, "search", None)
    if report is None:
        return ""
    t, spec = report.trials, report.spec
    counts = ", ".join(f"{n} {s.lower()}" for s, n in t["state"].value_counts().items()) if not t.empty else "none"
    lines = [
        f"Optuna study <code>{e(report.name)}</code>: {len(t)} trials ({counts}); budget {spec.get('trials', '?')}; "
        f"sampler {e(spec.get('sampler', '?'))} (seed {spec.get('seed', '?')}); pruner {e(spec.get('pruner', '?'))}.",
        objectives_line(report),
    ]
    seeds = len(spec.get("seeds") or [0])
    if seeds > 1:
        lines.append(
            f"Each trial trained {seeds} seeds. The intervals of the tables below are over one configuration's "
            "seeds: how far its result moves with the seed. They are no interval for the best trial's value, "
            "the maximum of many noisy means and so biased upwards; to quote it, re-run it on fresh seeds."
        )
    best = report.best
    if best is not None:
        params = ", ".join(f"{k[6:]}={fmt(v)}" for k, v in best.items() if k.startswith("param."))
        reached = report.trials_to_within(float(best["value"]))
        lines.append(
            f"Best trial {int(best['number'])}: {float(best['value']):.4f} ({e(params)}); a trial within "
            f"{WITHIN * 100:g} points of it came after {reached} trial(s)."
        )
    repeats = int(t["repeat"].sum()) if "repeat" in t else 0
    if repeats:
        lines.append(
            f"{repeats} trial(s) proposed a point already trained: told its earlier value without training, "
            "not counted in the budget."
        )
    retried = t["retry_of"].notna().sum() if "retry_of" in t else 0
    if retried:
        lines.append(f"{retried} trial(s) re-run the parameters of a trial whose process died.")
    if report.importance_note:
        lines.append(e(report.importance_note))
    figures = "\n".join(figure_html(f, data) for f, data in report.figures)
    items = "".join(f"<li>{line}</li>" for line in lines)
    front = front_table(report, fmt) if report.several else ""
    return f"<section><h2>Search</h2><ul>{items}</ul>{front}{trials_table(report)}{figures}</section>"


def trials_table(report: SearchReport) -> str:
    """Every trial: number, state, value (with its sd over seeds when it has several), pruned-at iteration and
    parameters (n/a where the trial did not sample one: it takes no effect there)."""
    t = report.trials
    if t.empty:
        return ""
    params = [c for c in t.columns if c.startswith("param.")]
    spread = "spread" in t and t["spread"].notna().any()
    head = ["trial", "state", "value", *(["sd over seeds"] if spread else []), "pruned at", *(c[6:] for c in params)]
    rows = []
    for _, r in t.iterrows():
        cells = [
            str(r["number"]),
            r["state"].lower(),
            fmt(r["value"]),
            *([fmt(r["spread"])] if spread else []),
            fmt(r["pruned_at"]),
            *(fmt(r[c]) if r[c] == r[c] else "n/a" for c in params),  # NaN: not sampled in this trial
        ]
        rows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in cells) + "</tr>")
    header = "<tr>" + "".join(f"<th>{e(h)}</th>" for h in head) + "</tr>"
    return f"<details><summary>All trials</summary><table>{header}{''.join(rows)}</table></details>"


def figure_html(figure: ReportFigure, data: bytes) -> str:
    encoded = base64.b64encode(data).decode("ascii")
    return (
        f'<figure id="{figure.slug}"><h3>{e(figure.title)}</h3>'
        f'<img src="data:image/png;base64,{encoded}" alt="{e(figure.title)}">'
        f"<figcaption>{e(figure.caption)}</figcaption></figure>"
    )


def fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return "–"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def e(text: Any) -> str:
    return html.escape(str(text))
