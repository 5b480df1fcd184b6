"""Per-layer diagnostics of a study run: the `<stat>/<layer>` metrics in depth order, the gradient ratio
of a run's first and last kernel layers, and which activation each hidden `act_k` layer applies.
Pure computation over the store's read model."""

from __future__ import annotations

import json

import pandas as pd

from study.store.reader import StudyRuns

LAYER_KINDS = ("conv", "dense", "act")
"""Layer-name prefixes in depth order: convolutions come before the dense layers in every stack."""

SATURATING = ("sigmoid", "tanh")  # activations whose `act_saturated` is measured (study/engine/diagnostics.py)
DEAD_UNITS = ("relu",)  # activations whose `act_dead` is measured


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
    final = layer_curves(study, "grad_norm").groupby(["run_id", "layer"], observed=True)["value"].last().dropna()
    per_run = final.groupby(level="run_id")  # each run's layers in depth order
    first, last, layers = per_run.first(), per_run.last(), per_run.size()
    kept = (layers >= 2) & (last > 0)
    return (first[kept] / last[kept]).astype(float).rename_axis(None).rename(None)


def layer_activations(run: pd.Series) -> dict[str, str]:
    """A run's hidden activation layers (`act_k`) -> activation function: as the engine recorded them
    from the built model (`layer_activations`), else — for runs stored before that tag existed —
    rebuilt from the params the way study/engine/build.py names its layers."""
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
