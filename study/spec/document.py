"""The study document as written (`StudyFile`), a loaded, validated study (`Study`), and `model.arch`
resolved against the document's named architectures."""

from __future__ import annotations

import copy
import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from study.errors import ConfigError
from study.spec.adaptive import MAX_ADAPTIVE_SEEDS, AdaptiveSeeds
from study.spec.expect import Expectation
from study.spec.layers import Layer
from study.spec.search import SearchConfig
from study.spec.settings import Settings
from study.spec.strict import MAX_RUNS, PositiveInt, Strict
from study.spec.tracking import TrackingConfig

STUDY_NAME = re.compile(r"[^\W_][\w.-]*")  # whole name (fullmatch): letters of any script, digits, _ . -
MAX_STUDY_NAME = 100  # characters: the name is a folder (reports/<name>/…) and part of artifact paths


class StudyFile(Strict):
    """The study document as written (grid values are checked later, against Settings)."""

    study: str
    """The study's name: its MLflow experiment and its reports/ folder."""
    description: str = ""
    """What the study compares; shown in the report and the MLflow UI."""
    base: dict[str, Any] = {}
    """The settings every cell shares (see the settings below); omitted ones take their defaults."""
    grid: dict[str, list[Any]] = {}
    """Axes: dotted setting key -> list of values; the cells are the cartesian product (or give `search:`)."""
    search: SearchConfig | None = None
    """Sampled trials instead of the full grid (study/plan/space.py, docs/search.md)."""
    exclude: list[dict[str, Any]] = []
    """Combinations to drop from the grid: each a mapping axis -> value."""
    seeds: list[Annotated[int, Field(ge=0)]] | PositiveInt | AdaptiveSeeds = [0]
    """Replicates of every cell: a list of seeds, a count N meaning seeds 0..N-1, or {min, max, until: resolved}
    to add seeds in rounds until every comparison is resolved (docs/adaptive_seeds.md)."""
    architectures: dict[str, list[Layer]] = {}
    """Named layer stacks, used by `model.arch`."""
    expect: list[Expectation] = []
    """Expected result ranges, checked after the run (study/check/expectations.py)."""
    tracking: TrackingConfig = TrackingConfig()
    """What each cell run records beyond params and metrics: its model, system metrics."""

    @field_validator("study")
    @classmethod
    def _name(cls, v: str) -> str:
        if not STUDY_NAME.fullmatch(v) or len(v) > MAX_STUDY_NAME:
            raise ValueError(
                "must be letters (any script), digits, '_', '-' or '.', starting with a letter or digit, "
                f"at most {MAX_STUDY_NAME} characters"
            )
        return v

    @field_validator("seeds", mode="before")
    @classmethod
    def _seed_count(cls, v: Any) -> Any:
        if isinstance(v, dict):
            return adaptive_seeds(v)
        if isinstance(v, str) or (isinstance(v, int) and not isinstance(v, bool) and not 0 < v <= MAX_RUNS):
            raise ValueError(f"a count of seeds is 1 to {MAX_RUNS:,} (or give a list of seeds)")
        if isinstance(v, list) and len(v) > MAX_RUNS:
            raise ValueError(f"{len(v):,} seeds; at most {MAX_RUNS:,}")
        return v

    @field_validator("grid")
    @classmethod
    def _grid(cls, v: dict[str, list[Any]]) -> dict[str, list[Any]]:
        if not v:
            raise ValueError("the grid is empty: give at least one axis, e.g. `model.activation: [sigmoid, relu]`")
        for key, values in v.items():
            if not values:
                raise ValueError(f"axis {key!r} has no values")
        return v

    @model_validator(mode="after")
    def _grid_or_search(self) -> StudyFile:
        if self.search is None and not self.grid:
            raise ValueError("a study needs a `grid:` (the full grid) or a `search:` (sampled trials) section")
        if self.search is not None and self.grid:
            raise ValueError("give either `grid:` or `search:`, not both")
        if self.search is not None and isinstance(self.seeds, AdaptiveSeeds):
            raise ValueError("seeds: {min, max, until: resolved} adapts a grid's seeds; a search takes a count or list")
        if self.search is not None and self.search.sampler != "grid":
            for key in ("exclude", "expect"):
                if getattr(self, key):
                    raise ValueError(
                        f"{key}: applies to a grid; a `search:` with sampler {self.search.sampler} samples its "
                        "trials (narrow the distributions instead, or use sampler: grid)"
                    )
        return self

    @property
    def seed_list(self) -> list[int]:
        """The seeds every cell gets (with adaptive seeds: the first round's, 0..min-1)."""
        if isinstance(self.seeds, AdaptiveSeeds):
            return list(range(self.seeds.min))
        return list(range(self.seeds)) if isinstance(self.seeds, int) else list(self.seeds)

    @property
    def most_seeds(self) -> int:
        """The most seeds a cell may get: the list's or count's, or an adaptive design's max."""
        return self.seeds.max if isinstance(self.seeds, AdaptiveSeeds) else len(self.seed_list)

    @property
    def adaptive(self) -> AdaptiveSeeds | None:
        """The adaptive seed design, when `seeds:` is one."""
        return self.seeds if isinstance(self.seeds, AdaptiveSeeds) else None


ADAPTIVE_RANGES = {
    "min": f"2 to {MAX_ADAPTIVE_SEEDS:,} seeds",
    "max": f"2 to {MAX_ADAPTIVE_SEEDS:,} seeds",
    "budget": f"1 to {MAX_RUNS:,} runs",
}


def adaptive_seeds(v: dict[str, Any]) -> AdaptiveSeeds:
    """`seeds: {min, max, …}` validated, its first error as one line under `seeds.<key>`."""
    from pydantic import ValidationError

    from study.spec.messages import describe

    try:
        return AdaptiveSeeds.model_validate(v)
    except ValidationError as exc:
        err: dict[str, Any] = dict(exc.errors()[0])
        key = ".".join(str(p) for p in err["loc"])
        if str(err["type"]).startswith(("greater_than", "less_than")) and key in ADAPTIVE_RANGES:
            raise ValueError(f"{key}: {err['input']!r} is not valid (valid: {ADAPTIVE_RANGES[key]})") from None
        raise ValueError(describe(err, AdaptiveSeeds, "", "").removeprefix(": ")) from None


class Study(BaseModel):
    """A loaded, validated study: the document plus where it came from."""

    model_config = ConfigDict(frozen=True)

    spec: StudyFile
    base: Settings
    source: str  # the file path, for error messages and the MLflow tag
    text: str  # the study as YAML, overrides applied (logged as the parent's artifact)

    @property
    def name(self) -> str:
        return self.spec.study


def resolve_arch(settings_doc: dict[str, Any], spec: StudyFile, source: str, where: str) -> dict[str, Any]:
    """Replace `model.arch: NAME` with the named layer stack, keeping `arch` as a label."""
    model = settings_doc.get("model") if isinstance(settings_doc, dict) else None
    if not isinstance(model, dict) or model.get("arch") is None:
        return settings_doc
    name = model["arch"]
    if model.get("layers") is not None:
        raise ConfigError(f"{source}: {where}.model: give either `arch` or `layers`, not both")
    if name not in spec.architectures:
        valid = ", ".join(spec.architectures) or "none defined: add an `architectures:` section"
        raise ConfigError(f"{source}: {where}.model.arch: unknown architecture {name!r} (valid: {valid})")
    out = copy.deepcopy(settings_doc)
    out["model"]["layers"] = [layer.model_dump() for layer in spec.architectures[name]]
    return out
