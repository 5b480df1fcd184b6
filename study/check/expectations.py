"""A study's expected results (`expect:` in the study file), checked after every `study run`.

Each expectation selects cells by their axis values and gives a range per summary metric::

    expect:
      - cells: {activation: sigmoid, initializer: gauss}   # axis (short or dotted name) -> value or label
        final_test_acc: [0.08, 0.15]
        source: course notebook 2_2_2, output of cell 5     # where the range comes from
      - final_test_acc: [0.5, 1.0]                         # no `cells`: every cell

Every selected cell must land in every range (ends included). The selectors are checked against the
grid before anything runs: an axis that does not exist or a value no cell has is one error line.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from study.errors import ConfigError
from study.spec.expect import EXPECT_METRICS

METRICS = EXPECT_METRICS


@dataclass
class Outcome:
    """One expectation on one cell and metric: the range, the value and whether it was met."""

    expectation: int  # its index in `expect:`
    cell: str
    metric: str
    low: float
    high: float
    value: float | None  # None: the cell has no value (failed)
    source: str = ""

    @property
    def met(self) -> bool:
        return self.value is not None and self.low <= self.value <= self.high

    def line(self) -> str:
        got = "no value (the cell did not finish)" if self.value is None else f"{self.value:.4f}"
        return (
            f"expect[{self.expectation}] {self.cell}: {self.metric} {got} in [{self.low:g}, {self.high:g}]: "
            f"{'met' if self.met else 'NOT MET'}"
        )


def axis_names(cells) -> dict[str, str]:
    """Every name a selector may use for an axis (dotted key and short name) -> the short name."""
    first = cells[0]
    names = {}
    for key, short in zip(first.axes, first.labels):
        names[key] = names[short] = short
    return names


def cell_matches(cell, selector: dict[str, Any], names: dict[str, str]) -> bool:
    """Whether a cell has every selected axis value (by label, raw value or bundle label)."""
    for key, want in selector.items():
        short = names[key]
        dotted = next(k for k, s in zip(cell.axes, cell.labels) if s == short)
        raw = cell.axes[dotted]
        choices = [cell.labels[short], raw.get("label") if isinstance(raw, dict) else raw]  # a value may be a list
        if want not in choices and str(want) not in {str(c) for c in choices}:
            return False
    return True


def check_expectations(study, cells) -> None:
    """ConfigError for a selector naming an unknown axis or matching no cell; nothing is run before."""
    names = axis_names(cells)
    for i, exp in enumerate(study.spec.expect):
        for key, value in exp.cells.items():
            if key not in names:
                raise ConfigError(
                    f"{study.source}: expect[{i}].cells: unknown axis {key!r} "
                    f"(valid: {', '.join(dict.fromkeys(names))})"
                )
            if not any(cell_matches(c, {key: value}, names) for c in cells):
                short = names[key]
                valid = ", ".join(dict.fromkeys(c.labels[short] for c in cells))
                raise ConfigError(f"{study.source}: expect[{i}].cells.{key}: no cell has {value!r} (valid: {valid})")
        if not any(cell_matches(c, exp.cells, names) for c in cells):
            raise ConfigError(f"{study.source}: expect[{i}].cells: no cell matches all of {exp.cells}")


def evaluate(study, results) -> list[Outcome]:
    """Every expectation on every selected cell, from the cells' summary metrics."""
    if not study.spec.expect or not results:
        return []
    cells = [r.cell for r in results]
    names = axis_names(cells)
    out = []
    for i, exp in enumerate(study.spec.expect):
        for r in results:
            if not cell_matches(r.cell, exp.cells, names):
                continue
            for metric in METRICS:
                bounds = getattr(exp, metric)
                if bounds is not None:
                    value = (r.metrics or {}).get(metric)
                    out.append(
                        Outcome(
                            i,
                            r.cell.name,
                            metric,
                            bounds[0],
                            bounds[1],
                            None if value is None else float(value),
                            exp.source,
                        )
                    )
    return out


def summary(outcomes: list[Outcome]) -> str:
    """`3 of 4 expectations met`: the parent's `study.expect` tag and the report's heading."""
    return f"{sum(o.met for o in outcomes)} of {len(outcomes)} expectations met"


def as_records(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """The outcomes as JSON-ready dicts (the parent's `expectations.json`)."""
    return [{**asdict(o), "met": o.met} for o in outcomes]
