"""What every section of the schema shares: the strict base model and the constrained number types.

Each choice is declared once, as a Literal type in its section's module; the tuple of its values is
read from it (`get_args`).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

MAX_RUNS = 100_000  # runs one study may hold (cells × seeds, or trials): past this the store is the problem

PositiveInt = Annotated[int, Field(gt=0)]
RunCount = Annotated[int, Field(gt=0, le=MAX_RUNS)]
PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, lt=1)]  # a rate in [0, 1)
OpenUnit = Annotated[float, Field(gt=0, lt=1)]  # a decay in (0, 1)


class Strict(BaseModel):
    """Base for every section: unknown keys and silent type coercion are errors."""

    # A field's docstring is its one-line meaning (`study settings`, docs/settings.md, `study schema`).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, use_attribute_docstrings=True)


def as_tuple(value: Any) -> Any:
    """A YAML list for a fixed-length setting, as the tuple the schema holds (hashable, like the rest)."""
    return tuple(value) if isinstance(value, list) else value
