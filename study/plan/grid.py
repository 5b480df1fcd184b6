"""Grid expansion: a study becomes an ordered list of cells, each fully resolved, named and hashed.

Pure and deterministic: the same study always gives the same cells in the same order (axes in
the order written, the last axis varying fastest, seeds innermost), and a cell's hash depends
only on its resolved settings and seed, never on the grid's order or on other cells.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from study.errors import ConfigError
from study.spec.builder import BuilderError, code_digest, parse
from study.spec.document import Study, resolve_arch
from study.spec.keys import ARGS_KEY, check_setting_key, is_builder_arg, is_setting_key
from study.spec.messages import cell_error, describe
from study.spec.settings import LATER_SETTINGS, Settings
from study.spec.strict import MAX_RUNS
from study.spec.task import builtin_task_kind

# Settings that say where things are, not what is computed: left out of a cell's identity.
# Data settings added later enter only when set (DataConfig.identity), so existing hashes stay.
NOT_IDENTITY = {("data", "dir"), ("data", "path"), ("data", "test_path"), ("train", "steps_per_call")}


@dataclass(frozen=True)
class Cell:
    """One training run: a point of the grid at one seed."""

    index: int
    group: str  # readable name without the seed, e.g. "sigmoid · gauss(0.01)"
    seed: int
    axes: dict[str, Any]  # dotted axis key -> the grid value chosen (bundle axes: the bundle)
    labels: dict[str, str]  # short axis name -> readable value, e.g. {"activation": "sigmoid"}
    settings: Settings
    config_hash: str

    @property
    def name(self) -> str:
        return f"{self.group} · seed {self.seed}"


def expand(study: Study) -> list[Cell]:
    """All cells of the study, in order; raises ConfigError on a bad grid value or duplicates."""
    spec = study.spec
    if spec.search is not None:
        raise ConfigError(f"{study.source}: search: a search study has no grid; its cells are its trials (study run)")
    keys = list(spec.grid)
    check_run_count(study, [len(spec.grid[k]) for k in keys])
    shorts = short_names(keys)
    cells: list[Cell] = []
    seen: dict[str, str] = {}
    used: set[int] = set()  # the exclude entries that matched some cell
    for combo in itertools.product(*(spec.grid[k] for k in keys)):
        axes = dict(zip(keys, combo))
        settings = resolve(study, axes)
        matched = excluded_by(study, axes, settings)
        used.update(matched)
        if matched:
            continue
        labels = {shorts[k]: printable(label(k, v, settings)) for k, v in axes.items()}
        group = " · ".join(labels.values())
        for seed in spec.seed_list:
            h = cell_hash(study, settings, seed)
            if h in seen:
                raise ConfigError(
                    f"{study.source}: grid: cells {seen[h]!r} and {f'{group} (seed {seed})'!r} resolve to the "
                    "same settings; remove the duplicate axis value"
                )
            seen[h] = f"{group} (seed {seed})"
            cells.append(Cell(len(cells), group, seed, axes, labels, settings, h))
    if not cells:
        raise ConfigError(f"{study.source}: exclude: every cell of the grid is excluded")
    for i in sorted(set(range(len(spec.exclude))) - used):
        raise ConfigError(
            f"{study.source}: exclude[{i}]: {spec.exclude[i]} matches no cell of the grid{no_match(study, i)}"
        )
    return cells


def resolve(study: Study, axes: dict[str, Any], context: str | None = None) -> Settings:
    """The base settings with these axis values applied, validated (errors name the axis, or `context`)."""
    doc = study.base.model_dump(mode="python", exclude_none=False)
    for key, value in axes.items():
        for sub, sub_value in bundle_items(key, value):
            set_setting(doc, sub, copy.deepcopy(sub_value))
    subs = {sub for k, v in axes.items() for sub, _ in bundle_items(k, v)}
    if doc["model"].get("builder") is not None and "model.builder" in subs:
        doc["model"]["arch"] = doc["model"]["layers"] = None  # a builder replaces the base's layer stack
    elif subs & {"model.arch", "model.layers", "model.hidden"}:
        doc["model"]["builder"] = None  # a layer stack (or hidden net) on an axis replaces the base's builder
    if "model.arch" in subs:
        doc["model"]["layers"] = None  # the base's stack came from its own `arch`: re-resolve
        doc = resolve_arch(doc, study.spec, study.source, "grid")
    elif "model.layers" in subs:
        doc["model"]["arch"] = None  # an explicit stack replaces the base's named one
    try:
        return Settings.model_validate(doc)
    except ValidationError as exc:
        if context is not None:  # a search's point (study/plan/space.py) names itself
            first = describe(dict(exc.errors()[0]), Settings, study.source, prefix="")
            raise ConfigError(f"{first} ({context})") from None
        # Name the axis whose value is wrong (or, for settings wrong only together, the whole cell).
        owners = {sub: key for key, value in axes.items() for sub, _ in bundle_items(key, value)}
        raise ConfigError(cell_error(exc, study.source, owners, axes)) from None


def set_setting(doc: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted setting in a settings document; `model.args.<name>` sets one of the builder's arguments."""
    if is_builder_arg(key):
        args = doc["model"].get("args")
        doc["model"]["args"] = {**(args if isinstance(args, dict) else {}), key[len(ARGS_KEY) + 1 :]: value}
        return
    section, field = key.split(".", 1)
    doc[section][field] = value


def bundle_items(key: str, value: Any) -> list[tuple[str, Any]]:
    """A plain axis sets one setting; a bundle axis sets several (its `label` is only a name)."""
    if is_setting_key(key):
        return [(key, value)]
    return [(k, v) for k, v in value.items() if k != "label"]


def excluded(study: Study, axes: dict[str, Any], settings: Settings) -> bool:
    """True when some `exclude` entry matches this cell on every key it names."""
    return bool(excluded_by(study, axes, settings))


def excluded_by(study: Study, axes: dict[str, Any], settings: Settings) -> list[int]:
    """The indices of the `exclude` entries that match this cell on every key they name."""
    flat = flatten_settings(settings)
    return [
        i
        for i, rule in enumerate(study.spec.exclude)
        if all(matches(study, i, key, want, axes, flat) for key, want in rule.items())
    ]


def no_match(study: Study, i: int) -> str:
    """Why an exclude entry matches nothing, when one of its values is not an axis value: `; …`."""
    for key, want in study.spec.exclude[i].items():
        values = study.spec.grid.get(key)
        if values is None:
            continue
        choices = [v.get("label") if isinstance(v, dict) else v for v in values]
        if want not in choices:
            return f"; {key} is never {want!r} (grid values: {', '.join(map(str, choices))})"
    return ""


def matches(study: Study, i: int, key: str, want: Any, axes: dict[str, Any], flat: dict[str, Any]) -> bool:
    """Whether one `exclude` condition holds: a bundle axis matches by label, a setting by value."""
    if key in axes and not is_setting_key(key):
        return axes[key].get("label") == want
    check_setting_key(key, f"exclude[{i}]", study.source)
    if is_builder_arg(key):
        return flat[ARGS_KEY].get(key[len(ARGS_KEY) + 1 :]) == want
    return flat[key] == want


def short_names(keys: list[str]) -> dict[str, str]:
    """`model.activation` -> `activation`, unless two axes would share a short name."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def label(key: str, value: Any, settings: Settings) -> str:
    """A short readable text for one axis value, e.g. `gauss(0.01)`, `40x20`, `BN before`."""
    field = key.rsplit(".", 1)[-1]
    if isinstance(value, dict):
        return str(value.get("label") or ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in value.items()))
    if field == "initializer" and value == "gauss":
        return f"gauss({settings.model.init_std:g})"
    if field == "hidden":
        return "x".join(str(v) for v in value) if value else "no hidden"
    if field == "batch_norm":
        return f"BN {value}"
    if field == "builder" and isinstance(value, str):
        return parse(value).function
    if field in ("activation", "initializer", "name", "arch", "sampling", "loss", "rule"):
        return str(value)
    if isinstance(value, float):
        return f"{field}={value:g}"
    return f"{field}={value}"


def printable(text: str) -> str:
    """A label fit for a run name, a tag and a table row: line breaks and control characters become
    single spaces (user-written bundle labels and architecture names may hold anything)."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


def flatten_settings(settings: Settings) -> dict[str, Any]:
    """Settings as {dotted key: value}, JSON-compatible (lists and dicts kept as they are)."""
    doc = settings.model_dump(mode="json")
    return {f"{s}.{f}": v for s, fields in doc.items() for f, v in fields.items()}


def identity(settings: Settings, seed: int) -> dict[str, Any]:
    """What determines a cell's numbers: every setting except the paths and engine knobs."""
    doc = settings.model_dump(mode="json")
    doc["data"] = settings.data.identity()
    for section, field in NOT_IDENTITY:
        doc[section].pop(field, None)
    if doc["train"]["numerics"] == "exact":  # exact numbers are the numbers: kept out, so hashes stay stable
        doc["train"].pop("numerics")
    for (section, field), default in LATER_SETTINGS.items():  # newer settings at their default: same cell
        if doc[section].get(field, default) == default:
            doc[section].pop(field, None)
    if settings.model.builder is not None:  # the code's digest, not where it lives: a moved project keeps its cells
        doc["model"]["builder"] = parse(settings.model.builder).short
        doc["model"]["code"] = code_digest(settings.model.builder)
    if builtin_task_kind(settings.model.loss) is None:  # likewise your own loss's, metrics' and callbacks' code
        doc["model"]["loss"] = [parse(settings.model.loss).short, code_digest(settings.model.loss)]
    for field in ("metrics", "callbacks"):
        if doc["train"].get(field):
            doc["train"][field] = [[parse(ref).short, code_digest(ref)] for ref in getattr(settings.train, field)]
    doc["seed"] = seed
    return doc


def config_hash(settings: Settings, seed: int) -> str:
    """sha256 of the canonical JSON of the cell's identity, first 16 hex digits."""
    text = json.dumps(identity(settings, seed), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def cell_hash(study: Study, settings: Settings, seed: int) -> str:
    """config_hash, with a builder whose code cannot be read refused in one line naming the study file."""
    try:
        return config_hash(settings, seed)
    except BuilderError as exc:
        refs = ", ".join(map(repr, settings.code_refs))
        raise ConfigError(f"{study.source}: your own code: {refs}: {exc}") from None


def run_count(n_cells: int, n_seeds: int, n_runs: int | None = None) -> str:
    """'4 cells × 3 seeds = 12 runs', the one wording of a study's size in every command and the report;
    `n_runs` (when it differs from the product, e.g. runs missing from the store) is added."""

    def many(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    text = f"{many(n_cells, 'cell')} × {many(n_seeds, 'seed')} = {many(n_cells * n_seeds, 'run')}"
    if n_runs is not None and n_runs != n_cells * n_seeds:
        text += f" ({n_runs} in the store)"
    return text


def check_run_count(study: Study, axis_lengths: list[int]) -> None:
    """Refuse a grid of more than MAX_RUNS runs before building any of them (exclusions only remove)."""
    seeds = len(study.spec.seed_list)
    runs = math.prod(axis_lengths) * seeds
    if runs > MAX_RUNS:
        sizes = " × ".join(map(str, [*axis_lengths, seeds]))
        raise ConfigError(
            f"{study.source}: grid: {sizes} = {runs:,} runs (axes × seeds), more than the {MAX_RUNS:,} one study "
            "may hold; split it into studies, or use a search"
        )


def cells_count(cells: list[Cell]) -> str:
    """run_count of expanded cells: distinct grid points × seeds = runs."""
    return run_count(len({c.group for c in cells}), len({c.seed for c in cells}), len(cells))
