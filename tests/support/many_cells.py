"""A study of many cells built in memory, as the store reader assembles one (study.store.reader.study_runs),
without a store: the report's behaviour past a page of cells, tested in seconds.

Cells are activation × lr × width, one seed each; each learns towards an accuracy set by its settings plus
seed noise, evaluated at EVAL_STEPS, with a gradient norm per layer at the last step."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pandas as pd
from mlflow.entities import Metric, Param, Run, RunData, RunInfo, RunTag

from study.store.reader import StudyRuns, study_runs

EVAL_STEPS = (0, 10, 20, 30, 40, 50)
AXES = {
    "activation": ("relu", "tanh", "elu", "sigmoid", "selu"),
    "lr": ("0.01", "0.03", "0.1", "0.3", "1.0", "3.0"),
    "width": ("8", "12", "16", "24", "32", "48", "64", "96", "128", "192"),
}
SEEDS = (0,)


def many_cell_study() -> StudyRuns:
    """The in-memory study: 5 × 6 × 10 = 300 cells of one seed."""
    rng = np.random.default_rng(0)
    children, points = [], []
    for index, (combo, seed) in enumerate(itertools.product(itertools.product(*AXES.values()), SEEDS)):
        run, history = _run(index, dict(zip(AXES, combo)), seed, rng)
        children.append(run)
        points += history
    histories = pd.DataFrame(points, columns=["run_id", "metric", "step", "value", "timestamp"])
    parent = _entity("p" * 32, "many run", {"study.role": "parent", "study.name": "many"}, [], [])
    return study_runs("many", "", parent, children, [], histories)


def _run(index: int, axes: dict[str, str], seed: int, rng: np.random.Generator) -> tuple[Run, list[tuple]]:
    """One FINISHED cell run and its history points."""
    run_id = f"{index:032x}"
    cell = " · ".join(axes.values())
    final = 0.1 + 0.85 * np.exp(-((np.log10(float(axes["lr"])) + 1) ** 2)) * (1 - np.exp(-int(axes["width"]) / 24))
    final = float(np.clip(final + rng.normal(0, 0.01), 0.05, 0.99))
    test = [round(0.1 + (final - 0.1) * (1 - np.exp(-s / 15)), 3) for s in EVAL_STEPS]
    history = [(run_id, "test_acc", s, v, 0) for s, v in zip(EVAL_STEPS, test)]
    history += [(run_id, "train_acc", s, min(1.0, v + 0.02), 0) for s, v in zip(EVAL_STEPS, test)]
    history += [(run_id, f"grad_norm/dense_{d}", EVAL_STEPS[-1], 10.0 ** (d - 2), 0) for d in (1, 2)]
    tags = {
        "study.role": "cell",
        "study.cell": cell,
        "study.seed": str(seed),
        "study.axes": json.dumps([f"model.{k}" for k in axes]),
        "study.dataset": "mnist",
        **{f"axis.{k}": v for k, v in axes.items()},
    }
    summary = {"final_test_acc": test[-1], "best_test_acc": max(test), "final_train_acc": min(1.0, test[-1] + 0.02)}
    summary |= {"final_test_loss": 2.0 - test[-1], "wall_time_s": 0.05}
    params = {**{f"model.{k}": v for k, v in axes.items()}, "train.iterations": str(EVAL_STEPS[-1])}
    return _entity(run_id, f"{cell} · seed {seed}", tags, params.items(), summary.items()), history


def _entity(run_id: str, name: str, tags: dict, params, metrics) -> Run:
    """A FINISHED MLflow Run entity."""
    info = RunInfo(run_id, "1", "test", "FINISHED", 0, 1000, "active", run_name=name)
    data = RunData(
        metrics=[Metric(k, v, 0, EVAL_STEPS[-1]) for k, v in metrics],
        params=[Param(k, v) for k, v in params],
        tags=[RunTag(k, v) for k, v in tags.items()],
    )
    return Run(info, data)
