"""The report's settings section: the settings that vary (the axes, with their levels), then the fixed
settings that take effect in these cells — those the study chose first, then those at their defaults —
and, folded away, the fixed settings that do nothing in any of the cells,
each with its one-line meaning from the schema."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from functools import cache, lru_cache

import pandas as pd
from pydantic import ValidationError

from study.plan.grid import flatten_settings
from study.reporting.context import ReportContext
from study.reporting.html_parts import esc, section, table
from study.spec.keys import setting_keys
from study.spec.relevance import inert_settings
from study.spec.settings import Settings
from study.spec.settings_doc import entries
from study.spec.studyfile import parse_yaml
from study.store.contract import param_text


@cache
def default_texts() -> dict[str, str]:
    """Each setting's default as the param text the store records (e.g. `[40,20]`, `0.01`)."""
    return {key: param_text(value) for key, value in flatten_settings(Settings()).items()}


@cache
def meanings() -> dict[str, str]:
    """Each dotted key's one-line meaning, as `study settings` prints it."""
    return {e.key: e.meaning for e in entries()}


def settings_of_run(run: Mapping) -> Settings | None:
    """A run's Settings rebuilt from its recorded params (`params.<key>`); None when they do not validate
    (older runs)."""
    doc: dict[str, dict] = {}
    for key in setting_keys():
        text = run.get(f"params.{key}")
        if not isinstance(text, str):
            continue
        section_name, name = key.split(".", 1)
        doc.setdefault(section_name, {})[name] = None if text == "None" else _parsed(text)
    try:
        return Settings.model_validate(doc)
    except (ValidationError, ValueError, TypeError):
        return None


@lru_cache(maxsize=4096)
def _parsed_once(text: str):
    """A param's YAML value: a study's runs repeat a few texts thousands of times."""
    return parse_yaml(text)


def _parsed(text: str):
    """`_parsed_once`, a list or mapping copied so that no caller shares it."""
    value = _parsed_once(text)
    return copy.deepcopy(value) if isinstance(value, (list, dict)) else value


def inert_everywhere(runs: pd.DataFrame) -> dict[str, str]:
    """The settings inert in every run (key -> the reason in the first run); {} when a run cannot be rebuilt.
    Runs with the same settings (seeds of a cell) are looked at once."""
    columns = [column for column in (f"params.{key}" for key in setting_keys()) if column in runs]
    common: dict[str, str] | None = None
    for run in runs[columns].drop_duplicates().to_dict("records"):
        settings = settings_of_run(run)
        if settings is None:
            return {}
        inert = inert_settings(settings)
        common = inert if common is None else {k: v for k, v in common.items() if k in inert}
    return common or {}


def split_fixed(fixed: dict[str, str], inert: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(fixed settings in effect that the study set, fixed settings in effect at their defaults)."""
    defaults = default_texts()
    active = {k: v for k, v in fixed.items() if k not in inert}
    chosen = {k: v for k, v in active.items() if k in defaults and v != defaults[k]}
    return chosen, {k: v for k, v in active.items() if k not in chosen}


def settings_section(ctx: ReportContext) -> str:
    """Varying settings, the fixed settings in effect (chosen, then defaults), the inert ones folded."""
    study = ctx.study
    varying = [
        [f"<code>{esc(a.key)}</code>", esc(", ".join(a.levels)), esc(meanings().get(a.key, ""))] for a in study.axes
    ]
    inert = {k: why for k, why in inert_everywhere(study.runs).items() if k in study.fixed}
    chosen, at_default = split_fixed(study.fixed, inert)
    parts = ["<h3>Settings that vary</h3>"]
    parts.append(table(["Setting", "Levels", "Meaning"], varying) if varying else "<p>none: a single cell</p>")
    parts.append(
        '<h3>Fixed settings in effect</h3><p class="note">Equal in every run and read by these cells: first '
        "those the study set, then those left at their default (<code>study settings</code> lists every "
        "setting).</p>"
    )
    rows = [[*_row(k, v), "set by the study"] for k, v in chosen.items()]
    rows += [[*_row(k, v), "default"] for k, v in at_default.items()]
    parts.append(table(["Setting", "Value", "Meaning", ""], rows) if rows else "<p>none</p>")
    if inert:
        folded = [[*_row(k, study.fixed[k]), esc(why)] for k, why in inert.items()]
        parts.append(
            f"<details><summary>{len(inert)} fixed settings that do nothing in these cells</summary>"
            f"{table(['Setting', 'Value', 'Meaning', 'Why it has no effect'], folded)}</details>"
        )
    return section("Settings", "".join(parts))


def _row(key: str, value: str) -> list[str]:
    """Key, value and meaning cells, escaped."""
    return [f"<code>{esc(key)}</code>", esc(value), esc(meanings().get(key, ""))]
