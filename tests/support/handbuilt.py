"""A hand-built MLflow store in the layout of docs/store-layout.md, for the store reader, the statistics
and the report tests (the `hand_store`, `toy_summary` and `reps_context` fixtures of conftest.py).

Study `toy` has activation × initializer × 3 seeds with hand-chosen test accuracies (one cell stuck at
chance, one of its seeds FAILED), logged under a first parent without a manifest; a second, later
parent skipped every cell and lists the same runs in its `cells.json`. Study `bn` has a batch-norm
axis and one seed per cell. Study `reps` is a balanced 2 × 2 grid with 5 seeds whose final
accuracies are cell mean + spread × noise, with per-layer diagnostics, so the Welch intervals, the
factor tables and the ANOVA have values known by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunTag

EVAL_STEPS = [0, 10, 20, 30]
T_975 = {1: 12.706205, 2: 4.302653}  # Student t quantiles, 0.975, by degrees of freedom
TOY_CELLS = {  # (activation, initializer): (train − test offset, test accuracy per seed at EVAL_STEPS)
    ("relu", "he"): (0.05, [[0.10, 0.50, 0.80, 0.90], [0.10, 0.60, 0.85, 0.92], [0.10, 0.40, 0.70, 0.88]]),
    ("relu", "gauss(0.01)"): (0.03, [[0.10, 0.70, 0.95, 0.93], [0.10, 0.80, 0.96, 0.94], [0.10, 0.75, 0.94, 0.95]]),
    ("sigmoid", "he"): (0.02, [[0.10, 0.30, 0.60, 0.70], [0.10, 0.35, 0.65, 0.72], [0.10, 0.25, 0.55, 0.68]]),
    ("sigmoid", "gauss(0.01)"): (0.0, [[0.10, 0.11, 0.10, 0.11], [0.10, 0.09, 0.10, 0.10], [0.10, 0.10, 0.10]]),
}
FAILED = (("sigmoid", "gauss(0.01)"), 2)  # this cell × seed diverges at iteration 20
WALL_TIMES = [10.0, 11.0, 12.0]  # seed s takes 10 + s seconds

# Study `reps`: final test accuracy of seed s = cell mean + spread × NOISE[s] (NOISE sums to 0,
# so each cell's mean is exact and its variance is spread² · 0.00025).
NOISE = [-0.02, -0.01, 0.0, 0.01, 0.02]
REPS_CELLS = {
    ("relu", "he"): (0.90, 1.0),
    ("relu", "gauss(0.01)"): (0.89, 2.0),
    ("sigmoid", "he"): (0.80, 1.0),
    ("sigmoid", "gauss(0.01)"): (0.11, 0.5),
}
REPS_LAYERS = ("dense_1", "dense_2", "dense_3")


def cell_name(*values: str) -> str:
    """The readable cell name the writer uses."""
    return " · ".join(values)


def log_cell(
    client,
    experiment_id,
    parent_id,
    axes: dict[str, str],
    seed,
    test_acc,
    offset,
    failed=False,
    extra: tuple[list[Metric], dict[str, str]] = ([], {}),
) -> str:
    """Log one child run (tags, params, curves, summary or failure) the way study/store/ does;
    `extra` adds metrics and params."""
    cell = cell_name(*axes.values())
    tags = {
        "mlflow.parentRunId": parent_id,
        "study.role": "cell",
        "study.name": "toy",
        "study.cell": cell,
        "study.seed": str(seed),
        "study.config_hash": f"{seed:016x}",
        "study.axes": json.dumps([f"model.{k}" for k in axes]),
        "study.dataset": "mnist",
        "study.dataset_digest": "abc123",
        **{f"axis.{k}": v for k, v in axes.items()},
    }
    run = client.create_run(experiment_id, run_name=f"{cell} · seed {seed}", tags=tags)
    params = {**{f"model.{k}": v for k, v in axes.items()}, **axes}
    params |= {"optimizer.lr": "0.1", "train.iterations": "30", "train.seed": str(seed), **extra[1]}
    steps = EVAL_STEPS[: len(test_acc)]
    losses = [float("nan") if failed and s == 20 else 1.0 / s for s in range(1, steps[-1] + 1)]
    metrics = [Metric("train_loss", loss, 0, s) for s, loss in enumerate(losses, start=1)] + extra[0]
    for step, acc in zip(steps, test_acc):
        values = {"test_acc": acc, "train_acc": acc + offset, "test_loss": 2.0 - acc}
        metrics += [Metric(k, v, 0, step) for k, v in values.items()]
    if failed:
        tags = [RunTag("study.failure", "loss became NaN"), RunTag("study.failure_step", "20")]
    else:
        final = {"final_test_acc": test_acc[-1], "best_test_acc": max(test_acc), "final_test_loss": 2.0 - test_acc[-1]}
        final |= {"final_train_acc": test_acc[-1] + offset, "wall_time_s": 10.0 + seed}
        metrics += [Metric(k, v, 0, steps[-1]) for k, v in final.items()]
        tags = []
    client.log_batch(run.info.run_id, metrics=metrics, params=[Param(k, v) for k, v in params.items()], tags=tags)
    client.set_terminated(run.info.run_id, "FAILED" if failed else "FINISHED")
    return run.info.run_id


def start_parent(client, experiment_id, name: str, axes: list[str]) -> str:
    """Create a parent run with the contract's tags."""
    tags = {"study.role": "parent", "study.name": name, "study.axes": json.dumps(axes)}
    tags |= {"study.config_file": f"{name}.yaml", "study.versions.keras": "3.3.3", "study.versions.study": "0.1.0"}
    return client.create_run(experiment_id, run_name=f"{name} run", tags=tags).info.run_id


def finish_parent(client, parent_id: str, manifest: list[dict] | None, tmp_path) -> None:
    """Log the parent's wall time and, if given, its cells.json, and end it."""
    client.log_metric(parent_id, "wall_time_s", 50.0)
    if manifest is not None:
        path = tmp_path / "cells.json"
        path.write_text(json.dumps(manifest))
        client.log_artifact(parent_id, str(path))
    client.set_terminated(parent_id, "FINISHED")


def build_store(root: Path) -> dict:
    """Fill the SQLite store root/mlflow.db (created when missing) with the toy, bn, reps, empty and
    all-failed studies; the tracking URI, a client and the ids the tests look up."""
    uri = f"sqlite:///{root}/mlflow.db"
    client = MlflowClient(uri)

    def create(name: str, **kwargs) -> str:
        return client.create_experiment(name, artifact_location=str(root / "artifacts" / name), **kwargs)

    toy = create("toy", tags={"mlflow.note.content": "Activation × initializer on a toy task."})
    first = start_parent(client, toy, "toy", ["model.activation", "model.initializer"])
    manifest = []
    for (activation, initializer), (offset, seeds) in TOY_CELLS.items():
        for seed, test_acc in enumerate(seeds):
            failed = FAILED == ((activation, initializer), seed)
            axes = {"activation": activation, "initializer": initializer}
            run_id = log_cell(client, toy, first, axes, seed, test_acc, offset, failed)
            name = f"{cell_name(activation, initializer)} · seed {seed}"
            manifest.append({"name": name, "seed": seed, "run_id": run_id, "status": "skipped", "failure": None})
    finish_parent(client, first, None, root)
    boom = "worker process failed: boom"  # a cell that failed before its run was created
    manifest.append({"name": "tanh · he · seed 0", "seed": 0, "run_id": None, "status": "failed", "failure": boom})
    second = start_parent(client, toy, "toy", ["model.activation", "model.initializer"])
    finish_parent(client, second, manifest, root)

    bn = create("bn")
    bn_parent = start_parent(client, bn, "bn", ["model.batch_norm"])
    for flag, accs in (("true", [0.1, 0.8, 0.9, 0.95]), ("false", [0.1, 0.5, 0.7, 0.8])):
        log_cell(client, bn, bn_parent, {"batch_norm": flag}, 0, accs, 0.01)
    finish_parent(client, bn_parent, None, root)

    reps = create("reps")
    reps_parent = start_parent(client, reps, "reps", ["model.activation", "model.initializer"])
    for (activation, initializer), (mean, spread) in REPS_CELLS.items():
        for seed, noise in enumerate(NOISE):
            final = mean + spread * noise
            axes = {"activation": activation, "initializer": initializer}
            extra = (diagnostics(activation, initializer, seed), {"model.hidden": "[40,20]"})
            log_cell(client, reps, reps_parent, axes, seed, [0.10, 0.50, final, final], 0.01, extra=extra)
    finish_parent(client, reps_parent, None, root)

    create("empty")
    broken = create("broken")
    broken_parent = start_parent(client, broken, "broken", ["model.activation"])
    log_cell(client, broken, broken_parent, {"activation": "relu"}, 0, [0.1, 0.1], 0.0, failed=True)
    finish_parent(client, broken_parent, None, root)
    return {"uri": uri, "client": client, "first": first, "second": second, "bn_parent": bn_parent, "root": root}


def diagnostics(activation: str, initializer: str, seed: int) -> list[Metric]:
    """Per-layer metrics at steps 10, 20, 30: the gradient of dense_1 is (1 + seed)·1e-4 of the output
    layer's in sigmoid · gauss(0.01), half of it elsewhere; saturation/dead fractions as the engine
    logs them (0 where the rule does not apply)."""
    first = (1 + seed) * 1e-4 if (activation, initializer) == ("sigmoid", "gauss(0.01)") else 0.5
    metrics = []
    for step in (10, 20, 30):
        norms = {"dense_1": first, "dense_2": (first + 1) / 2, "dense_3": 1.0}
        metrics += [Metric(f"grad_norm/{layer}", value, 0, step) for layer, value in norms.items()]
        for k in (1, 2):
            saturated = 0.1 * k * step / 30 if activation == "sigmoid" else 0.0
            dead = 0.05 * k if activation == "relu" else 0.0
            metrics += [
                Metric(f"act_saturated/act_{k}", saturated, 0, step),
                Metric(f"act_dead/act_{k}", dead, 0, step),
            ]
    return metrics


def expected_mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and 95 % CI half-width by hand (Student t, n − 1 dof)."""
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return mean, T_975[n - 1] * sd / math.sqrt(n)
