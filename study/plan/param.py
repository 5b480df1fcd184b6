"""One dimension of a search space (`Param`) and what turns a point of the space into settings: the pieces
the space's parsing (study/plan/space.py) and its conditions (study/plan/conditions.py) both use."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from study.errors import ConfigError
from study.plan.grid import label, printable, resolve
from study.spec.document import Study
from study.spec.strict import MAX_RUNS

STACK_KEY = "model.hidden"  # the one setting with a structured distribution: depth x width
STACK_PARTS = ("depth", "width")
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


def extremes(p: Param) -> list[Any]:
    """The values that bound a dimension: every choice, or both bounds."""
    if p.kind == "choice":
        return list(p.choices)
    if p.kind == "int":
        return [int(p.low), int(p.high)]
    return [float(p.low), float(p.high)]  # sampled as floats: an integer setting refuses them


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


def conditional(study: Study) -> bool:
    """Whether the study's trials sample only the parameters that take effect (`search.conditional`)."""
    return study.spec.search is not None and study.spec.search.conditional
