"""A study file read and validated into a `Study`: the document (YAML, `--set`), the schema, and the
search space checked against the settings, so a `Study` in hand is one every later stage can plan."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from study.errors import ConfigError
from study.plan.space import check_metric, grid_of, search_space
from study.spec.builder import BuilderError, anchored, is_reference
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


# Settings that name your own code: one reference, or a list (model.loss: a reference, or a loss of the study's).
CODE_KEYS = ("model.builder", "model.loss", "train.metrics", "train.callbacks")


def anchor_builders(doc: dict[str, Any], source: str) -> None:
    """Every path in the settings that name your own code (CODE_KEYS) made absolute against the study file's
    folder (so the study as logged names the very file, and worker processes find it); a missing module is
    refused here."""
    folder = Path(source).parent

    def anchor(value: Any, where: str) -> Any:
        if isinstance(value, list):
            return [anchor(v, f"{where}[{i}]") for i, v in enumerate(value)]
        if not is_reference(value):  # a loss of the study's (a malformed reference: the schema says why)
            return value
        try:
            return anchored(value, folder)
        except BuilderError as exc:
            raise ConfigError(f"{source}: {where}: {value!r}: {exc}") from None

    def setting(key: str, value: Any, where: str) -> Any:
        """An axis or choice value of `key`: the setting itself, or a bundle that may set one."""
        if key in CODE_KEYS:
            return anchor(value, where)
        if isinstance(value, dict):
            return {k: anchor(v, f"{where}.{k}") if k in CODE_KEYS else v for k, v in value.items()}
        return value

    base = doc["base"] if isinstance(doc.get("base"), dict) else {}
    for key in CODE_KEYS:
        section, field = key.split(".")
        part = base.get(section)
        if isinstance(part, dict) and field in part:
            part[field] = anchor(part[field], f"base.{key}")
    for key, values in (doc.get("grid") or {}).items() if isinstance(doc.get("grid"), dict) else ():
        if isinstance(values, list):
            doc["grid"][key] = [setting(key, v, f"grid.{key}[{i}]") for i, v in enumerate(values)]
    params = (doc.get("search") or {}).get("params") if isinstance(doc.get("search"), dict) else None
    for key, dist in (params or {}).items() if isinstance(params, dict) else ():
        if isinstance(dist, dict) and isinstance(dist.get("choice"), list):
            where = f"search.params.{key}.choice"
            dist["choice"] = [setting(key, v, f"{where}[{i}]") for i, v in enumerate(dist["choice"])]
