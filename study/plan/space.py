"""Search spaces: the `search:` section of a study, checked as strictly as a grid, as Optuna distributions,
and a trial's sampled values turned into cells (one per seed) named and hashed like grid cells.

What to try, not how to run it: pure, and Optuna is imported only where
its distribution objects are built. A distribution is one of::

    optimizer.lr:     {loguniform: [1.0e-4, 0.3]}        # float, log scale
    model.dropout:    {uniform: [0.0, 0.5]}              # float
    train.batch_size: {int: [20, 200], step: 20}         # integer (`log: true` for a log scale)
    model.activation: {choice: [relu, tanh, sigmoid]}    # any values a grid axis takes, bundles included
    model.hidden:     {depth: {int: [1, 4]}, width: {choice: [32, 64, 128]}}   # `depth` layers of `width` units

`sampler: grid` turns the space into the equivalent `grid:` (every choice, every integer) and the study
runs as a grid does.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from typing import Any

from study.errors import ConfigError
from study.plan.conditions import check_when, corner_values, derive, split_when
from study.plan.grid import Cell, config_hash, identity, short_names
from study.plan.param import (
    NOT_SAMPLED,
    STACK_KEY,
    STACK_PARTS,
    Param,
    choice_text,
    conditional,
    extremes,
    is_scalar,
    setting_axes,
)
from study.spec.document import Study
from study.spec.keys import check_setting_key, setting_keys
from study.spec.search import DISTRIBUTION_KINDS, GAP, SearchConfig
from study.spec.settings import Settings
from study.spec.strict import MAX_RUNS

INT_OPTIONS = {"step", "log"}  # besides the bounds, what an `int` distribution may say
HOW_TO_RUN = {"trials", "pruner", "startup_trials", "warmup_iterations"}  # not part of a search's identity
NOT_DUMPED = HOW_TO_RUN | {"conditional"}  # conditional sampling enters a search's identity as its conditions
FIXED_PREFIXES = ("data.", "train.numerics")  # one dataset and one numerics mode per search


# --- reading the space -------------------------------------------------------------------------


def search_space(study: Study) -> list[Param]:
    """The study's search space, every entry checked; ConfigError with one line on the first mistake."""
    search = study.spec.search
    assert search is not None
    return parse_params(search, study.source, study)


def parse_params(search: SearchConfig, source: str, study: Study | None) -> list[Param]:
    """Parse `search.params` into Params; with a study, also check every value against the settings."""
    keys: list[str] = []
    when: dict[str, Any] = {}
    where = f"{source}: search.params"
    raw: list[tuple[str, Any]] = []
    for key, spec in search.params.items():
        if key.startswith(FIXED_PREFIXES):
            raise ConfigError(
                f"{where}.{key}: a search compares settings on one dataset with one numerics mode; "
                "set data.* and train.numerics under base (or vary them in a grid)"
            )
        spec, when[key] = split_when(spec)
        if key == STACK_KEY and isinstance(spec, dict) and set(spec) & set(STACK_PARTS):
            if set(spec) != set(STACK_PARTS):
                raise ConfigError(
                    f"{where}.{key}: a stack needs exactly `depth` and `width` (got {', '.join(map(str, spec))})"
                )
            raw.extend((f"{key}.{part}", spec[part]) for part in STACK_PARTS)
        else:
            raw.append((key, spec))
        keys.extend(k for k, _ in raw[len(keys) :])
    names = short_names(keys)
    params = check_when([parse_one(key, names[key], spec, where) for key, spec in raw], when, where)
    for p in params:
        if p.key.startswith(STACK_KEY + "."):
            check_stack_part(p, where)
        elif p.key not in setting_keys() and not (p.kind == "choice" and all(isinstance(v, dict) for v in p.choices)):
            check_setting_key(p.key, f"search.params.{p.key}", source)  # raises: unknown setting
    if study is not None:
        check_metric(search, study.source, study.base)
        for p in params:
            probe(study, params, p)
        derive(study, params)  # a parameter that takes effect at no point of the space is refused
    return params


def check_metric(search: SearchConfig, source: str, base: Settings) -> None:
    """Each objective is a metric the study's cells record (a val_* one with data.validation)."""
    from study.spec.summary_metrics import metric_problem

    key = "metrics" if search.several else "metric"
    for metric, _ in search.objectives:
        problem = None if metric in ("wall_time_s", GAP) else metric_problem(metric, base)
        if problem is not None:
            raise ConfigError(f"{source}: search.{key}: {metric!r} {problem}")


def parse_one(key: str, name: str, spec: Any, where: str) -> Param:
    """One distribution `{kind: args, ...}`."""
    forms = "{choice: [...]}, {uniform: [low, high]}, {loguniform: [low, high]}, {int: [low, high]}"
    if not isinstance(spec, dict) or not spec:
        raise ConfigError(f"{where}.{key}: {spec!r} is not a distribution (valid: {forms})")
    kinds = [k for k in spec if k in DISTRIBUTION_KINDS]
    unknown = [k for k in spec if k not in DISTRIBUTION_KINDS and not (kinds == ["int"] and k in INT_OPTIONS)]
    if unknown:
        valid = ", ".join(DISTRIBUTION_KINDS) + (" (and step, log with int)" if kinds == ["int"] else "")
        raise ConfigError(f"{where}.{key}: unknown distribution key {unknown[0]!r} (valid: {valid})")
    if len(kinds) != 1:
        raise ConfigError(f"{where}.{key}: give exactly one distribution, got {', '.join(kinds)} (valid: {forms})")
    kind, args = kinds[0], spec[kinds[0]]
    at = f"{where}.{key}.{kind}"
    if kind == "choice":
        if not isinstance(args, list) or not args:
            raise ConfigError(f"{at}: {args!r}: expected a non-empty list of values")
        texts = [v if is_scalar(v) else choice_text(key, v) for v in args]
        if len(set(map(repr, texts))) != len(texts):
            raise ConfigError(f"{at}: {args!r}: a value is listed twice")
        return Param(key, name, kind, choices=tuple(args))
    low, high = bounds(at, args, integer=kind == "int")
    if kind == "loguniform" and low <= 0:
        raise ConfigError(f"{at}: [{low:g}, {high:g}]: a log scale needs low > 0")
    if kind != "int":
        return Param(key, name, kind, low=low, high=high, log=kind == "loguniform")
    step, log = spec.get("step", 1), spec.get("log", False)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ConfigError(f"{where}.{key}.step: {step!r}: must be a positive integer")
    if not isinstance(log, bool):
        raise ConfigError(f"{where}.{key}.log: {log!r}: must be true or false")
    if log and (step != 1 or low < 1):
        raise ConfigError(f"{where}.{key}: a log-scale int needs step 1 and low >= 1")
    return Param(key, name, kind, low=low, high=high, step=step, log=log)


def bounds(at: str, args: Any, integer: bool) -> tuple[float, float]:
    """`[low, high]` with low < high: numbers (integers for `int`)."""
    number = int if integer else (int, float)
    if (
        not isinstance(args, list)
        or len(args) != 2
        or any(isinstance(v, bool) or not isinstance(v, number) for v in args)
        or not all(math.isfinite(v) for v in args)
    ):
        kind = "integers" if integer else "numbers"
        raise ConfigError(f"{at}: {args!r}: expected [low, high], two {kind}")
    low, high = args
    if not low < high:
        raise ConfigError(f"{at}: [{low:g}, {high:g}]: low must be below high")
    return low, high


def check_stack_part(p: Param, where: str) -> None:
    """`depth` and `width` of a `model.hidden` stack are positive integers."""
    values = list(p.choices) if p.kind == "choice" else [p.low, p.high] if p.kind == "int" else None
    ok = values is not None and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in values)
    if not ok:
        shown = list(values or [p.low, p.high])
        raise ConfigError(f"{where}.{p.key}: {p.kind} {shown}: must be positive integers (int or choice)")


def probe(study: Study, params: list[Param], p: Param) -> None:
    """Resolve the base with each extreme of `p` (the others at their first value): a bad value fails here."""
    first = {q.name: extremes(q)[0] for q in params}
    for value in extremes(p):
        setting_axes(study, params, {**first, p.name: value}, f"in search.params.{p.key}")


# --- trials -> cells ---------------------------------------------------------------------------


def trial_cells(study: Study, params: list[Param], number: int, sampled: dict[str, Any]) -> list[Cell]:
    """The cells of trial `number` (one per seed) from Optuna's sampled values; ConfigError if they do not resolve.

    A parameter the trial did not sample (it takes no effect there) keeps the base's value and reads `n/a`."""
    values = {p.name: p.value(sampled[p.name]) for p in params if p.name in sampled}
    settings = setting_axes(study, params, values, f"in trial {number}")
    labels = {p.name: p.text(values[p.name], study) if p.name in values else NOT_SAMPLED for p in params}
    group = " · ".join([f"trial {number}", *(labels[p.name] for p in params if p.name in values)])
    axes = {p.key: values.get(p.name, NOT_SAMPLED) for p in params}
    seeds = study.spec.seed_list
    return [
        Cell(number * len(seeds) + k, group, seed, axes, labels, settings, config_hash(settings, seed))
        for k, seed in enumerate(seeds)
    ]


def probe_cells(study: Study, params: list[Param]) -> list[Cell]:
    """Cells at the corners of the space (every first value, then each dimension's other extremes), for the
    checks before a search runs: the dataset, shapes and sizes (study/check/preflight.py)."""

    from study.spec.relevance import effective_settings

    space = derive(study, params)
    first = {p.name: corner_values(p)[0] for p in params}
    points = [first] + [{**first, p.name: v} for p in params for v in corner_values(p)[1:]]
    cells: dict[str, Cell] = {}
    for point in points:
        if conditional(study):  # a parameter that takes no effect at this corner is not sampled there
            point = space.sampled(lambda p, point=point: point[p.name])
        cell = trial_cells(study, params, 0, point)[0]
        cells.setdefault(json.dumps(effective_settings(cell.settings), sort_keys=True), cell)  # one per effect
    return list(cells.values())


def axis_keys(params: list[Param]) -> list[str]:
    """The dotted axis keys of a search's cells (the `study.axes` tag), in the order written."""
    return [p.key for p in params]


def distributions(params: list[Param]) -> dict[str, Any]:
    """The space as Optuna distributions, by parameter name (for `Study.ask`)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = CategoricalDistribution(p.labels)
        elif p.kind == "int":
            out[p.name] = IntDistribution(int(p.low), int(p.high), log=p.log, step=p.step)
        else:
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log)
    return out


def space_size(params: list[Param]) -> int | None:
    """How many points the space has, None when a dimension is continuous."""
    sizes = [len(p.grid_values("")) if p.kind in ("choice", "int") else 0 for p in params]
    return math.prod(sizes) or None


def search_identity(study: Study, digest: str) -> str:
    """What makes two runs the same search (everything but the budget): 12 hex digits, part of its Optuna name.

    Raising `trials` or changing the pruner continues a search; changing the space (its conditions
    included), the objective, the sampler, its seed or the base starts another.
    """
    search = study.spec.search
    assert search is not None
    doc = {
        "search": search.model_dump(mode="json", exclude=NOT_DUMPED | ({"metrics"} if not search.several else set())),
        "base": identity(study.base, 0),
        "seeds": study.spec.seed_list,
        "dataset": digest,
    }
    if conditional(study):  # sampling only what takes effect is another search over a conditional space
        conditions = derive(study, search_space(study)).conditions()
        if conditions:
            doc["conditions"] = conditions
    text = json.dumps(doc, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


# --- sampler: grid -----------------------------------------------------------------------------


def grid_of(search: SearchConfig, source: str) -> dict[str, list[Any]]:
    """The full grid equivalent to a discrete space (`sampler: grid`); a stack becomes a `model.hidden` axis."""
    params = parse_params(search, source, None)
    where = f"{source}: search.params"
    grid = {p.key: p.grid_values(where) for p in params if p.setting != STACK_KEY or p.key == STACK_KEY}
    stack = [p.grid_values(where) for p in params if p.key.startswith(STACK_KEY + ".")]
    runs = math.prod(len(values) for values in [*grid.values(), *stack])
    if runs > MAX_RUNS:
        raise ConfigError(
            f"{where}: sampler grid: {runs:,} points, more than the {MAX_RUNS:,} runs one study may hold; "
            "use sampler tpe or random with a budget of trials"
        )
    if stack:
        grid[STACK_KEY] = [[w] * d for d, w in itertools.product(*stack)]
    return grid


def describe_space(study: Study) -> str:
    """What `study run --dry-run` prints for a search: the budget, the objective and each dimension."""
    search = study.spec.search
    assert search is not None
    params = search_space(study)
    space = derive(study, params)
    size = space_size(params)
    conditions = space.conditions() if conditional(study) else {}
    if size and conditions:
        size_text = f"space: {sum(1 for _ in space.points(size))} points that differ in effect ({size} flat)"
    else:
        size_text = f"space: {size} points" if size else "space: continuous"
    lines = [
        f"search: {search.trials} trials x {len(study.spec.seed_list)} seed(s), sampler {search.sampler} "
        f"(seed {search.seed}), {', '.join(f'{way} {name}' for name, way in search.objectives)}, "
        f"pruner {search.pruner}",
        size_text,
    ]
    for p in space.order if conditions else params:
        what = ", ".join(map(str, p.labels)) if p.kind == "choice" else f"[{p.low:g}, {p.high:g}]"
        step = f" step {p.step}" if p.kind == "int" and p.step > 1 else ""
        only = f"  (sampled where it takes effect: on {', '.join(conditions[p.name])})" if p.name in conditions else ""
        lines.append(f"  {p.name:<12} {p.kind:<10} {what}{step}{only}")
    return "\n".join(lines)
