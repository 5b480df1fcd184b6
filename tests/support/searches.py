"""`search:` studies: a good search and the table of bad search entries (study/plan/space.py), the
tiny search study run end to end, its Optuna trials, the pruned search, and the fault points
(STUDY_FAULTS) its kill tests arm."""

from __future__ import annotations

import copy
from pathlib import Path

GOOD = {
    "study": "searchy",
    "base": {
        "data": {"name": "mnist", "train_size": 300, "test_size": 100},
        "train": {"iterations": 40, "batch_size": 20, "eval_every": 10},
    },
    "search": {
        "trials": 6,
        "params": {
            "optimizer.lr": {"loguniform": [0.01, 0.5]},
            "model.hidden": {"depth": {"int": [1, 3]}, "width": {"choice": [16, 32]}},
            "model.activation": {"choice": ["relu", "tanh"]},
        },
    },
}


def good() -> dict:
    return copy.deepcopy(GOOD)


def params(**entries):
    def change(doc):
        doc["search"]["params"] = entries

    return change


def search(**fields):
    def change(doc):
        doc["search"].update(fields)

    return change


def top(**fields):
    def change(doc):
        doc.update(fields)

    return change


# id -> (change to GOOD, text the one error line must hold)
BAD_SEARCH = {
    "grid and search": (top(grid={"model.activation": ["relu"]}), "give either `grid:` or `search:`, not both"),
    "neither": (lambda d: d.pop("search"), "a study needs a `grid:` (the full grid) or a `search:`"),
    "unknown search key": (search(budget=5), "search.budget: unknown key 'budget' (valid keys here: params, sampler"),
    "unknown sampler": (search(sampler="bayes"), "search.sampler: 'bayes' is not valid (valid: tpe, random, grid)"),
    "unknown pruner": (
        search(pruner="hyperband"),
        "'hyperband' is not valid (valid: none, median, successive_halving)",
    ),
    "unknown metric": (search(metric="test_acc"), "'test_acc' is not valid (valid: final_test_acc, best_test_acc"),
    "worst direction": (search(direction="minimize"), "direction: minimize best_test_acc would look for the worst"),
    "no trials": (lambda d: d["search"].pop("trials"), "trials: required with sampler tpe"),
    "zero trials": (search(trials=0), "search.trials: 0"),
    "empty space": (params(), "the search space is empty"),
    "unknown setting": (
        params(**{"optimizer.learning_rate": {"uniform": [0.1, 0.2]}}),
        "unknown setting 'optimizer.learning_rate'",
    ),
    "unknown distribution": (params(**{"optimizer.lr": {"normal": [0, 1]}}), "unknown distribution key 'normal'"),
    "not a distribution": (params(**{"optimizer.lr": [0.1, 0.2]}), "is not a distribution (valid: {choice"),
    "two distributions": (
        params(**{"optimizer.lr": {"uniform": [0.1, 0.2], "choice": [0.1]}}),
        "give exactly one distribution",
    ),
    "low above high": (params(**{"optimizer.lr": {"uniform": [0.2, 0.1]}}), "[0.2, 0.1]: low must be below high"),
    "bounds not numbers": (params(**{"optimizer.lr": {"uniform": ["a", 1]}}), "expected [low, high], two numbers"),
    "log of zero": (params(**{"optimizer.lr": {"loguniform": [0, 0.1]}}), "a log scale needs low > 0"),
    "int of floats": (params(**{"train.batch_size": {"int": [10.5, 20]}}), "expected [low, high], two integers"),
    "int bad step": (params(**{"train.batch_size": {"int": [10, 20], "step": 0}}), "step: 0: must be a positive"),
    "empty choice": (params(**{"model.activation": {"choice": []}}), "expected a non-empty list of values"),
    "repeated choice": (params(**{"model.activation": {"choice": ["relu", "relu"]}}), "a value is listed twice"),
    "bad choice value": (
        params(**{"model.activation": {"choice": ["relu", "sigmod"]}}),
        "model.activation: 'sigmod' is not valid (valid: sigmoid",
    ),
    "bound out of range": (params(**{"model.dropout": {"uniform": [0.0, 1.5]}}), "model.dropout: 1.5"),
    "uniform on an int setting": (params(**{"train.iterations": {"uniform": [10, 40]}}), "train.iterations"),
    "stack without width": (params(**{"model.hidden": {"depth": {"int": [1, 2]}}}), "exactly `depth` and `width`"),
    "stack of floats": (
        params(**{"model.hidden": {"depth": {"int": [1, 2]}, "width": {"uniform": [8, 64]}}}),
        "must be positive integers",
    ),
    "searched data": (params(**{"data.train_size": {"int": [100, 300]}}), "a search compares settings on one dataset"),
    "exclude with a search": (top(exclude=[{"model.activation": "relu"}]), "exclude: applies to a grid"),
    "grid sampler, continuous": (search(sampler="grid"), "loguniform is continuous; sampler grid needs every"),
    "when of an unknown key": (
        params(**{"optimizer.lr": {"loguniform": [0.01, 0.5], "when": {"model.batch_norm": ["before"]}}}),
        "search.params.optimizer.lr.when.model.batch_norm: not another parameter of this search (valid: none)",
    ),
    "when of a value not sampled": (
        params(
            **{
                "model.activation": {"choice": ["relu", "tanh"]},
                "optimizer.lr": {"loguniform": [0.01, 0.5], "when": {"model.activation": ["sigmoid"]}},
            }
        ),
        "when.model.activation: 'sigmoid' is not a value of model.activation (valid: relu, tanh)",
    ),
    "when of a continuous parameter": (
        params(
            **{
                "optimizer.lr": {"loguniform": [0.01, 0.5]},
                "model.dropout": {"uniform": [0.0, 0.5], "when": {"optimizer.lr": [0.1]}},
            }
        ),
        "when.optimizer.lr: loguniform is continuous; a condition needs a choice or int parameter",
    ),
    "metrics and metric": (
        search(metric="best_test_acc", metrics=[{"best_test_acc": "max"}, {"wall_time_s": "min"}]),
        "search: metrics: replaces metric; give one or the other",
    ),
    "metrics with a pruner": (
        search(pruner="median", metrics=[{"best_test_acc": "max"}, {"wall_time_s": "min"}]),
        "pruner: median cannot stop a trial of a search with several metrics",
    ),
    "metrics the wrong way": (
        search(metrics=[{"best_test_acc": "max"}, {"wall_time_s": "max"}]),
        "metrics: wall_time_s: max would look for the worst trials (valid: min)",
    ),
    "metrics of one": (search(metrics=[{"best_test_acc": "max"}]), "metrics: give two or more"),
    "metrics of an unknown metric": (
        search(metrics=[{"best_test_acc": "max"}, {"params": "min"}]),
        "metrics: 'params' is not a metric of a cell (valid: final_test_acc",
    ),
    "metrics of validation without it": (
        search(metrics=[{"best_val_acc": "max"}, {"wall_time_s": "min"}]),
        "search.metrics: 'best_val_acc' needs data.validation",
    ),
    "sampled setting inert everywhere": (
        params(**{"optimizer.momentum": {"uniform": [0.5, 0.99]}}),
        "search.params.optimizer.momentum: takes effect in no trial of this space (only momentum / nesterov",
    ),
}


ITERATIONS = 60

SEARCH = """\
study: searchy
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd}
  train: {iterations: %d, batch_size: 20, eval_every: 10, steps_per_call: 10}
search:
  sampler: random
  trials: %d
  params:
    optimizer.lr: {loguniform: [0.02, 0.5]}
    model.activation: {choice: [relu, tanh]}
"""


def search_text(trials: int, iterations: int = ITERATIONS, extra: str = "") -> str:
    return SEARCH % (iterations, trials) + extra


def optuna_trials(root: Path) -> list:
    """Every trial of the store's (one) search, from its optuna.db."""
    import optuna

    storage = f"sqlite:///{root / 'mlruns' / 'optuna.db'}"
    (summary,) = optuna.get_all_study_summaries(storage)
    return optuna.load_study(study_name=summary.study_name, storage=storage).get_trials()


def states(trials: list) -> dict[str, int]:
    out: dict[str, int] = {}
    for t in trials:
        out[t.state.name] = out.get(t.state.name, 0) + 1
    return out


PRUNED = """\
study: pruning
base:
  data: {name: mnist, train_size: 300, test_size: 100}
  optimizer: {name: sgd}
  train: {iterations: 100, batch_size: 20, eval_every: 10, steps_per_call: 10}
search:
  sampler: random
  trials: 3
  pruner: median
  startup_trials: 2
  params:
    optimizer.lr: {loguniform: [1.0e-6, 0.5]}
"""

# Fault points of the library (study/execution/faults.py) for `study run` in a subprocess, as the value of
# STUDY_FAULTS: slow chunks (a long mid-cell to kill from outside), or SIGKILL just before Optuna hears that
# trial 1 ended (its cell run is FINISHED in the store).
FAULTS_ENV = "STUDY_FAULTS"
SLOW_CHUNKS = "chunk=sleep:0.05"
BEFORE_TELL_1 = "before-tell:1=kill"


def assert_refused(root: Path, code: int, err: str, needle: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1, err
    assert lines[0].startswith("error: ") and needle in lines[0], lines[0]
    assert not (root / "mlruns").exists(), "bad input wrote a store"


def validation_search_text(trials: int, extra: str = "") -> str:
    """SEARCH holding 100 validation images out of the training data, scored on them (`best_val_acc`)."""
    text = search_text(trials, iterations=40, extra=extra)
    text = text.replace("test_size: 100}", "test_size: 100, validation: {size: 100}}")
    return text.replace("  sampler: random\n", "  sampler: random\n  metric: best_val_acc\n")
