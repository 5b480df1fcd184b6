"""`seeds: {min: 2, max: 10, until: resolved}`: the study decides how many seeds each cell needs."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from study.spec.strict import RunCount, Strict

ERROR_RATE = 0.05
"""The family-wise error rate of the study's verdicts: the report's comparisons (study.analysis.statistics
CONFIDENCE = 1 − it) and the adaptive design's confidence sequences."""
MAX_ADAPTIVE_SEEDS = 1_000  # seeds one cell may reach: past this a study is measuring noise, not comparing
COMPARE_SCOPES = ("overall", "within")


class AdaptiveSeeds(Strict):
    """Seeds in rounds: every cell gets `min`, then only the cells of the comparisons not yet resolved get one
    more per round (anytime-valid confidence sequences, docs/adaptive_seeds.md)."""

    min: Annotated[int, Field(ge=2, le=MAX_ADAPTIVE_SEEDS)] = 2
    """Seeds every cell gets in the first round (at least 2: one seed has no spread to judge by)."""
    max: Annotated[int, Field(ge=2, le=MAX_ADAPTIVE_SEEDS)] = 10
    """Seeds a cell may reach; a comparison still open there ends `within noise`."""
    until: Literal["resolved"] = "resolved"
    """When to stop adding seeds: once every comparison is resolved (or max / budget is reached)."""
    budget: RunCount | None = None
    """At most this many runs in all (cells × seeds they got); none: only max bounds the study."""
    compare: Literal["overall", "within"] = "overall"
    """The comparisons that decide: each axis's level pairs averaged over the other axes (overall), or at
    each combination of them (within)."""

    @model_validator(mode="after")
    def _order(self) -> AdaptiveSeeds:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) is below min ({self.min}); max is the most seeds a cell may reach")
        return self
