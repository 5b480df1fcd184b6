"""A study file read and validated into a `Study`: the document (YAML, `--set`), the schema, and the
search space checked against the settings, so a `Study` in hand is one every later stage can plan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from study.errors import ConfigError
from study.plan.space import check_metric, grid_of, search_space
from study.spec.builder import BuilderError, anchored
from study.spec.document import Study, StudyFile, resolve_arch
from study.spec.keys import is_setting_key, setting_keys
from study.spec.messages import validated
from study.spec.settings import Settings
from study.spec.studyfile import apply_override, check_bundle_axis, check_finite, check_unambiguous_grid, read_yaml


def load_study(path: str | Path, overrides: Sequence[str] = ()) -> Study:
    """Read, override and validate a study file; raises ConfigError with one line on any problem."""
    path = Path(path)
    doc = read_yaml(path)
    for item in overrides:
        apply_override(doc, item, path)
    return study_from_dict(doc, str(path))


def study_from_dict(doc: dict[str, Any], source: str) -> Study:
    """Validate a study document; grid values are validated cell by cell in grid.expand."""
    from study.spec.hints import check_shapes

    check_shapes(doc, source, setting_keys())  # the common shape mistakes, with a hint how to write them
    check_finite(doc, source, "")
    anchor_builders(doc, source)
    spec = validated(StudyFile, doc, source, prefix="")
    grid_search = spec.search if spec.search is not None and spec.search.sampler == "grid" else None
    if grid_search is not None:  # the equivalent grid, run as a grid; its model kept by the search's metric
        tracking = spec.tracking.model_copy(update={"keep_metric": spec.tracking.keep_metric or grid_search.metric})
        spec = spec.model_copy(update={"grid": grid_of(grid_search, source), "search": None, "tracking": tracking})
    base_doc = resolve_arch(spec.base, spec, source, "base")
    base = validated(Settings, base_doc, source, prefix="base")
    if grid_search is not None:
        check_metric(grid_search, source, base)
    for key in spec.grid:
        if not is_setting_key(key):
            check_bundle_axis(key, spec.grid[key], source)
    check_unambiguous_grid(spec, source)
    text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True)
    study = Study(spec=spec, base=base, source=source, text=text)
    if spec.search is not None:
        search_space(study)  # every distribution checked against the settings, before anything runs
    return study


BUILDER_KEY = "model.builder"


def anchor_builders(doc: dict[str, Any], source: str) -> None:
    """Every `model.builder` path in the document made absolute against the study file's folder (so the study
    as logged names the very file, and worker processes find it); a missing module is refused here."""
    folder = Path(source).parent

    def anchor(value: Any, where: str) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return anchored(value, folder)
        except BuilderError as exc:
            raise ConfigError(f"{source}: {where}: {value!r}: {exc}") from None

    def in_bundle(value: Any, where: str) -> Any:
        if isinstance(value, dict) and BUILDER_KEY in value:
            return {**value, BUILDER_KEY: anchor(value[BUILDER_KEY], f"{where}.{BUILDER_KEY}")}
        return value

    model = (doc.get("base") or {}).get("model") if isinstance(doc.get("base"), dict) else None
    if isinstance(model, dict) and "builder" in model:
        model["builder"] = anchor(model["builder"], "base.model.builder")
    for key, values in (doc.get("grid") or {}).items() if isinstance(doc.get("grid"), dict) else ():
        if isinstance(values, list):
            fix = anchor if key == BUILDER_KEY else in_bundle
            doc["grid"][key] = [fix(v, f"grid.{key}[{i}]") for i, v in enumerate(values)]
    params = (doc.get("search") or {}).get("params") if isinstance(doc.get("search"), dict) else None
    for key, dist in (params or {}).items() if isinstance(params, dict) else ():
        if isinstance(dist, dict) and isinstance(dist.get("choice"), list):
            fix = anchor if key == BUILDER_KEY else in_bundle
            dist["choice"] = [fix(v, f"search.params.{key}.choice[{i}]") for i, v in enumerate(dist["choice"])]
