"""The report's settings section: the settings that vary (the axes, with their levels), then the
fixed settings the study chose (those that differ from the schema's defaults), and the rest — fixed
at their defaults — folded away, each with its one-line meaning from the schema."""

from __future__ import annotations

from functools import cache

from study.config import Settings
from study.grid import flatten_settings
from study.report.context import ReportContext
from study.report.html_parts import esc, section, table
from study.store.runs import param_text


@cache
def default_texts() -> dict[str, str]:
    """Each setting's default as the param text the store records (e.g. `[40,20]`, `0.01`)."""
    return {key: param_text(value) for key, value in flatten_settings(Settings()).items()}


@cache
def meanings() -> dict[str, str]:
    """Each dotted setting's one-line meaning, from the schema's attribute docstrings."""
    out = {}
    for section_name in Settings.model_fields:
        model = type(getattr(Settings(), section_name))
        for name, field in model.model_fields.items():
            out[f"{section_name}.{name}"] = " ".join((field.description or "").split())
    return out


def split_fixed(fixed: dict[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """(settings the study set to a non-default value, settings left at their default)."""
    defaults = default_texts()
    chosen = {k: v for k, v in fixed.items() if k in defaults and v != defaults[k]}
    return chosen, {k: v for k, v in fixed.items() if k not in chosen}


def settings_section(ctx: ReportContext) -> str:
    """Varying settings, the fixed settings the study chose, and the defaults folded."""
    study = ctx.study
    varying = [
        [f"<code>{esc(a.key)}</code>", esc(", ".join(a.levels)), esc(meanings().get(a.key, ""))] for a in study.axes
    ]
    chosen, at_default = split_fixed(study.fixed)
    parts = ["<h3>Settings that vary</h3>"]
    parts.append(table(["Setting", "Levels", "Meaning"], varying) if varying else "<p>none: a single cell</p>")
    parts.append(
        '<h3>Fixed settings the study chose</h3><p class="note">Equal in every run and different from the '
        "default (<code>study settings</code> lists every setting and its default).</p>"
    )
    parts.append(_rows(chosen) if chosen else "<p>none: every fixed setting is at its default</p>")
    if at_default:
        parts.append(
            f"<details><summary>{len(at_default)} more fixed settings at their defaults</summary>"
            f"{_rows(at_default)}</details>"
        )
    return section("Settings", "".join(parts))


def _rows(settings: dict[str, str]) -> str:
    """A table of settings: key, value, meaning."""
    rows = [[f"<code>{esc(k)}</code>", esc(v), esc(meanings().get(k, ""))] for k, v in settings.items()]
    return table(["Setting", "Value", "Meaning"], rows)
