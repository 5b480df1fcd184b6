"""The report's Search section (study/reporting/search_section.py, pareto_section.py) on Optuna studies built
in memory: a conditional parameter in the importances and the parallel coordinates, and with two objectives
the Pareto front flagged, drawn and listed with n/a where a trial did not sample a parameter."""

from __future__ import annotations

from types import SimpleNamespace

import optuna
import pandas as pd
from optuna.distributions import CategoricalDistribution, FloatDistribution

from study.reporting.search_report import SearchReport
from study.reporting.search_section import draw, importances, objectives, search_section, trials_frame

DISTS = {
    "name": CategoricalDistribution(("sgd", "momentum")),
    "momentum": CategoricalDistribution((0.5, 0.9)),
    "lr": FloatDistribution(0.01, 0.5, log=True),
}
# (params, values): momentum is sampled only for the momentum optimizer
TRIALS = [
    ({"name": "sgd", "lr": 0.02}, [0.70, 1.0]),
    ({"name": "momentum", "momentum": 0.9, "lr": 0.3}, [0.92, 2.0]),
    ({"name": "momentum", "momentum": 0.5, "lr": 0.1}, [0.85, 3.0]),  # dominated by the one before
    ({"name": "sgd", "lr": 0.4}, [0.88, 1.5]),
    ({"name": "momentum", "momentum": 0.5, "lr": 0.01}, [0.60, 2.5]),  # dominated
]


def in_memory(directions: list[str], spec: dict) -> optuna.Study:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ostudy = optuna.create_study(directions=directions)
    for params, values in TRIALS:
        trial = optuna.trial.create_trial(
            params=params,
            distributions={k: DISTS[k] for k in params},
            values=values[: len(directions)],
            user_attrs={"study.spread": {"best_test_acc": 0.0125}},
        )
        ostudy.add_trial(trial)
    ostudy.set_user_attr("study.search", spec)
    return ostudy


def report_of(ostudy: optuna.Study) -> SearchReport:
    spec = ostudy.user_attrs["study.search"]
    report = SearchReport("s-0", spec, objectives(ostudy, spec), trials_frame(ostudy), None, "")
    report.importances, report.importance_note = importances(ostudy)
    no_curves = SimpleNamespace(study=SimpleNamespace(curves=pd.DataFrame({"run_id": []})))
    report.figures = draw(report, ostudy, no_curves)  # type: ignore[arg-type]  # the trials have no runs
    return report


class Context:
    def __init__(self, search: SearchReport):
        self.search = search


def test_a_parameter_sampled_only_where_it_takes_effect_has_an_importance_and_an_axis():
    report = report_of(in_memory(["maximize"], {"metric": "best_test_acc", "trials": 5}))
    assert report.importances is not None and set(report.importances) == {"name", "momentum", "lr"}
    assert [f.slug for f, _ in report.figures][:2] == ["search-history", "search-parallel"]
    table = search_section(Context(report)).split("<summary>All trials</summary>")[1]  # type: ignore[arg-type]
    assert "<th>sd over seeds</th>" in table and "<td>0.0125</td>" in table
    assert "<tr><td>0</td><td>complete</td><td>0.7</td><td>0.0125</td><td>–</td><td>sgd</td><td>0.02</td>" in table
    assert table.count("<td>n/a</td>") == 2  # the sgd trials sampled no momentum


def test_two_objectives_show_the_pareto_front_with_each_points_settings():
    spec = {"metric": "best_test_acc", "metrics": [{"best_val_acc": "max"}, {"wall_time_s": "min"}], "trials": 5}
    report = report_of(in_memory(["maximize", "minimize"], spec))
    assert report.objectives == [("best_val_acc", True), ("wall_time_s", False)] and report.best is None
    assert report.trials.loc[report.trials["front"], "number"].tolist() == [0, 1, 3]
    assert "search-pareto" in [f.slug for f, _ in report.figures]
    html = search_section(Context(report))  # type: ignore[arg-type]
    assert "maximize best_val_acc, minimize wall_time_s" in html and "3 trial(s) that no other" in html
    front = html.split("<h3>Pareto front</h3>")[1].split("</table>")[0]
    rows = front.split("<tr>")[2:]
    assert [r.split("</td>")[0] for r in rows] == ["<td>1", "<td>3", "<td>0"]  # best first objective first
    assert "<td>n/a</td>" in rows[1] and "<td>n/a</td>" not in rows[0]  # trial 3 (sgd) sampled no momentum
