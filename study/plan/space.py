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
from dataclasses import dataclass
from typing import Any

from study.errors import ConfigError
from study.plan.grid import Cell, config_hash, identity, label, printable, resolve, short_names
from study.spec.document import Study
from study.spec.keys import check_setting_key, setting_keys
from study.spec.search import DISTRIBUTION_KINDS, SearchConfig
from study.spec.settings import Settings
from study.spec.strict import MAX_RUNS

STACK_KEY = "model.hidden"  # the one setting with a structured distribution: depth x width
STACK_PARTS = ("depth", "width")
INT_OPTIONS = {"step", "log"}  # besides the bounds, what an `int` distribution may say
HOW_TO_RUN = {"trials", "pruner", "startup_trials", "warmup_iterations"}  # not part of a search's identity
NOT_DUMPED = HOW_TO_RUN | {"conditional"}  # conditional sampling enters a search's identity as its conditions
FIXED_PREFIXES = ("data.", "train.numerics")  # one dataset and one numerics mode per search
NOT_SAMPLED = "n/a"  # a parameter's value and label in a trial where it takes no effect


@dataclass(frozen=True)
class Param:
    """One sampled dimension: its axis key (dotted), its Optuna name (short) and its distribution."""

    key: str  # e.g. "optimizer.lr", or "model.hidden.depth" for a part of the stack
    name: str  # the Optuna parameter name and the run's axis name, e.g. "lr"
    kind: str  # one of DISTRIBUTION_KINDS
    choices: tuple[Any, ...] = ()  # choice: the values as written
    low: float = 0.0
    high: float = 0.0
    step: int = 1
    log: bool = False
    when: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # `when:` (key, Optuna values): sampled only there

    @property
    def setting(self) -> str:
        """The setting (or bundle axis) this dimension sets."""
        return STACK_KEY if self.key.startswith(STACK_KEY + ".") else self.key

    @property
    def labels(self) -> tuple[Any, ...]:
        """The categorical choices Optuna sees: scalars as they are, lists and bundles by their text."""
        return tuple(v if is_scalar(v) else choice_text(self.key, v) for v in self.choices)

    def value(self, sampled: Any) -> Any:
        """The setting value of a sampled Optuna value (a choice's text maps back to the value)."""
        if self.kind != "choice" or is_scalar(self.choices[0]):
            return sampled
        return self.choices[self.labels.index(sampled)]

    def text(self, value: Any, study: Study) -> str:
        """A readable value for names and tables: `lr=0.00312`, `depth=3`, `relu`, `BN before`."""
        if self.kind in ("uniform", "loguniform"):
            return f"{self.name}={value:.3g}"
        if self.kind == "int":
            return f"{self.name}={value}"
        return printable(label(self.key, value, study.base))

    def grid_values(self, where: str) -> list[Any]:
        """Every value, for `sampler: grid`; ConfigError for a continuous distribution."""
        if self.kind == "choice":
            return list(self.choices)
        if self.kind == "int":
            values = range(int(self.low), int(self.high) + 1, self.step)
            if len(values) > MAX_RUNS:
                raise ConfigError(
                    f"{where}.{self.key}: {len(values):,} values for sampler grid, more than the {MAX_RUNS:,} runs "
                    "one study may hold; raise its step, or use sampler tpe or random"
                )
            return list(values)
        raise ConfigError(
            f"{where}.{self.key}: {self.kind} is continuous; sampler grid needs every parameter discrete "
            "(valid: choice, int)"
        )


def is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def choice_text(key: str, value: Any) -> str:
    """A list or bundle choice as one categorical text (bundles by their label)."""
    if isinstance(value, dict) and value.get("label"):
        return str(value["label"])
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


# --- reading the space -------------------------------------------------------------------------


def search_space(study: Study) -> list[Param]:
    """The study's search space, every entry checked; ConfigError with one line on the first mistake."""
    search = study.spec.search
    assert search is not None
    return parse_params(search, study.source, study)


def parse_params(search: SearchConfig, source: str, study: Study | None) -> list[Param]:
    """Parse `search.params` into Params; with a study, also check every value against the settings."""
    from study.plan.conditions import check_when, derive, split_when

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
        problem = None if metric == "wall_time_s" else metric_problem(metric, base)
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


def extremes(p: Param) -> list[Any]:
    """The values that bound a dimension: every choice, or both bounds."""
    if p.kind == "choice":
        return list(p.choices)
    if p.kind == "int":
        return [int(p.low), int(p.high)]
    return [float(p.low), float(p.high)]  # sampled as floats: an integer setting refuses them


# --- trials -> cells ---------------------------------------------------------------------------


def setting_axes(study: Study, params: list[Param], values: dict[str, Any], context: str):
    """The settings of one point of the space (`values`: setting values by Optuna name; a parameter the point
    does not sample keeps the base's value); ConfigError names it."""
    axes: dict[str, Any] = {}
    for p in params:
        if (p.setting == STACK_KEY and p.key != STACK_KEY) or p.name not in values:
            continue
        axes[p.key] = values[p.name]
    stack = [p for p in params if p.key.startswith(STACK_KEY + ".")]
    if stack and all(p.name in values for p in stack):
        depth, width = (values[p.name] for p in stack)
        axes[STACK_KEY] = [width] * depth
    shown = ", ".join(f"{p.key}={values[p.name]!r}" for p in params if p.name in values)
    return resolve(study, axes, context=f"{context}, at {shown}")


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

    from study.plan.conditions import corner_values, derive
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


def conditional(study: Study) -> bool:
    """Whether the study's trials sample only the parameters that take effect (`search.conditional`)."""
    return study.spec.search is not None and study.spec.search.conditional


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
        from study.plan.conditions import derive

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
