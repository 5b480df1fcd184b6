"""Conditional search spaces: a trial samples a parameter only where its setting takes effect.

A `search.params` entry names a setting, and many settings matter only under others: momentum only for
the momentum optimizers, dropout only with hidden layers, the `bn_*` settings only with batch norm. The
relevance rules (study/spec/relevance.py) say which settings are inert in a resolved configuration; from
them each parameter's *deciders* are found by probing the space (which other parameters, when changed,
change whether it takes effect). A trial samples the deciders first and skips a parameter that is inert
at their values, so two trials never differ only in a value that does nothing. `when: {key: [values]}`
on a parameter adds a condition the rules cannot know (e.g. a setting worth tuning only with one loss).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from study.errors import ConfigError
from study.plan.param import STACK_KEY, Param, extremes, setting_axes
from study.spec.document import Study
from study.spec.relevance import inert_settings
from study.spec.search import WHEN

Values = dict[str, Any]  # Optuna values (a choice's label) by parameter name


# --- `when:` --------------------------------------------------------------------------------------


def split_when(spec: Any) -> tuple[Any, Any]:
    """A distribution without its `when:` entry, and that entry (None when it has none)."""
    if not isinstance(spec, dict) or WHEN not in spec:
        return spec, None
    return {k: v for k, v in spec.items() if k != WHEN}, spec[WHEN]


def check_when(params: list[Param], raw: dict[str, Any], where: str) -> list[Param]:
    """The params with their `when:` conditions, each checked: a key of another parameter of the space, and
    values that parameter takes (its choices, or integers within its bounds). ConfigError in one line."""
    out = []
    for p in params:
        given = raw.get(p.setting if p.setting == STACK_KEY else p.key)
        out.append(replace(p, when=parse_when(p, given, params, f"{where}.{p.setting}.{WHEN}")) if given else p)
    return out


def parse_when(p: Param, given: Any, params: list[Param], at: str) -> tuple[tuple[str, tuple[Any, ...]], ...]:
    """`{key: [values]}` -> ((key, Optuna values), ...)."""
    others = {q.key: q for q in params if q.setting != p.setting}
    if not isinstance(given, dict) or not given:
        raise ConfigError(
            f"{at}: {given!r}: expected a mapping of another parameter to its values, e.g. "
            "`when: {optimizer.name: [momentum, nesterov]}`"
        )
    out = []
    for key, values in given.items():
        q = others.get(key)
        if q is None:
            raise ConfigError(
                f"{at}.{key}: not another parameter of this search (valid: {', '.join(others) or 'none'})"
            )
        if q.kind in ("uniform", "loguniform"):
            raise ConfigError(f"{at}.{key}: {q.kind} is continuous; a condition needs a choice or int parameter")
        if not isinstance(values, list) or not values:
            raise ConfigError(f"{at}.{key}: {values!r}: expected a non-empty list of its values")
        out.append((key, tuple(condition_value(q, v, f"{at}.{key}") for v in values)))
    return tuple(out)


def condition_value(q: Param, value: Any, at: str) -> Any:
    """One value a `when:` entry accepts, as Optuna holds it (a choice's label)."""
    if q.kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and q.low <= value <= q.high
        if not ok or (value - int(q.low)) % q.step:
            raise ConfigError(
                f"{at}: {value!r} is not a value of {q.key} (valid: {int(q.low)} to {int(q.high)}"
                f"{f' step {q.step}' if q.step > 1 else ''})"
            )
        return value
    for choice, label in zip(q.choices, q.labels):
        if value == choice or (isinstance(choice, dict) and value == label):
            return label
    raise ConfigError(f"{at}: {value!r} is not a value of {q.key} (valid: {', '.join(map(str, q.labels))})")


# --- the deciders, derived -----------------------------------------------------------------------


@dataclass
class Space:
    """A search space with its conditions: the order a trial samples in (deciders first) and, per parameter,
    the parameters whose values decide whether it takes effect (by the relevance rules; `when:` on top)."""

    study: Study
    params: list[Param]
    deciders: dict[str, tuple[str, ...]]  # by the relevance rules
    order: list[Param]
    inert_cache: dict[str, set[str] | None] = field(default_factory=dict)

    @property
    def conditional(self) -> bool:
        """Whether some trial samples fewer parameters than another."""
        return any(self.deciders.values()) or any(p.when for p in self.params)

    def conditions(self) -> dict[str, list[str]]:
        """Parameter name -> the names deciding it (rules and `when:`), for those that have any."""
        by_key = {q.key: q.name for q in self.params}
        out = {p.name: sorted({*self.deciders[p.name], *(by_key[k] for k, _ in p.when)}) for p in self.params}
        return {name: deciders for name, deciders in out.items() if deciders}

    def takes_effect(self, p: Param, values: Values) -> bool:
        """Whether `p` is sampled at `values` (its deciders' values, sampled before it)."""
        by_key = {q.key: q for q in self.params}
        for key, allowed in p.when:
            if values.get(by_key[key].name) not in allowed:
                return False
        if not self.deciders[p.name]:
            return True
        inert = self.inert(values)
        return inert is None or p.setting not in inert

    def inert(self, values: Values) -> set[str] | None:
        """The settings inert at a (partial) point; None when the point does not resolve."""
        key = repr(sorted(values.items(), key=lambda kv: kv[0]))
        if key not in self.inert_cache:
            self.inert_cache[key] = inert_at(self.study, self.params, values)
        return self.inert_cache[key]

    def sampled(self, choose) -> Values:
        """A point, sampled in order: `choose(param)` gives the value of each parameter that takes effect."""
        values: Values = {}
        for p in self.order:
            if self.takes_effect(p, values):
                values[p.name] = choose(p)
        return values

    def points(self, limit: int) -> Iterator[Values]:
        """The distinct points of a discrete space, a parameter that takes no effect left out (at most `limit`)."""
        count = 0

        def walk(i: int, values: Values) -> Iterator[Values]:
            nonlocal count
            if count >= limit:
                return
            if i == len(self.order):
                count += 1
                yield values
                return
            p = self.order[i]
            if not self.takes_effect(p, values):
                yield from walk(i + 1, values)
                return
            for v in discrete_values(p):
                yield from walk(i + 1, {**values, p.name: v})

        yield from walk(0, {})


def discrete_values(p: Param) -> list[Any]:
    """Every Optuna value of a choice or int parameter."""
    return list(p.labels) if p.kind == "choice" else list(range(int(p.low), int(p.high) + 1, p.step))


def inert_at(study: Study, params: list[Param], values: Values) -> set[str] | None:
    """The settings inert when the parameters in `values` take those values (the others at the base)."""
    settings_values = {p.name: p.value(values[p.name]) for p in params if p.name in values}
    try:
        return set(inert_settings(setting_axes(study, params, settings_values, "probing the space")))
    except ConfigError:
        return None


def derive(study: Study, params: list[Param]) -> Space:
    """The space's conditions: for each parameter, which others change whether it takes effect, found at the
    corners of the space (every first value, and each parameter's other extremes in turn)."""
    corners = {p.name: corner_values(p) for p in params}
    first = {name: values[0] for name, values in corners.items()}
    bases = [first] + [{**first, p.name: v} for p in params for v in corners[p.name][1:]]
    found: dict[str, set[str]] = {p.name: set() for p in params}
    cache: dict[str, set[str] | None] = {}

    def inert(point: Values) -> set[str] | None:
        key = repr(sorted(point.items()))
        if key not in cache:
            cache[key] = inert_at(study, params, point)
        return cache[key]

    for base in bases:
        for q in params:
            seen = [s for s in (inert({**base, q.name: v}) for v in corners[q.name]) if s is not None]
            for p in params:
                if p.setting != q.setting and len({p.setting in s for s in seen}) > 1:
                    found[p.name].add(q.name)
    check_takes_effect_somewhere(study, params, found, [s for s in (inert(b) for b in bases) if s is not None])
    deciders = {name: tuple(sorted(names)) for name, names in found.items()}
    return Space(study, params, deciders, sampling_order(params, deciders))


def corner_values(p: Param) -> list[Any]:
    """A parameter's extreme Optuna values: every choice's label, or both bounds."""
    return list(p.labels) if p.kind == "choice" else extremes(p)


def check_takes_effect_somewhere(
    study: Study, params: list[Param], deciders: dict[str, set[str]], inert_sets: list[set[str]]
) -> None:
    """A parameter whose setting is inert at every corner of the space would never be sampled: refused."""
    from study.spec.relevance import inert_settings as why_inert

    for p in params:
        if deciders[p.name] or not inert_sets or not all(p.setting in s for s in inert_sets):
            continue
        reason = why_inert(setting_axes(study, params, {}, "at the base")).get(p.setting, "it is inert here")
        raise ConfigError(
            f"{study.source}: search.params.{p.setting}: takes effect in no trial of this space ({reason}); "
            "remove it or sample what it depends on"
        )


def sampling_order(params: list[Param], deciders: dict[str, tuple[str, ...]]) -> list[Param]:
    """The parameters with each one's deciders (rules and `when:`) before it, otherwise in the order written;
    a cycle (two parameters deciding each other) keeps the written order."""
    by_key = {p.key: p.name for p in params}
    needs = {p.name: {*deciders[p.name], *(by_key[k] for k, _ in p.when)} for p in params}
    order: list[Param] = []
    placed: set[str] = set()
    while len(order) < len(params):
        ready = [p for p in params if p.name not in placed and needs[p.name] <= placed]
        nxt = ready[0] if ready else next(p for p in params if p.name not in placed)
        order.append(nxt)
        placed.add(nxt.name)
    return order
