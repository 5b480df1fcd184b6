"""The whole study checked before its first run is created (and by `study run --dry-run`).

Cheap on purpose — no data loaded, no TensorFlow for the course's layer types: the data's sizes from
its headers, every network structure built once against the data's shape, every explicit setting
taking effect in some cell, no two cells differing only in inert settings, every grid value used.
Each problem raises ConfigError (or DataError) with one line; nothing is written. Advice that is no
error (features on very different scales) is a `warning:` line on stderr, and the run goes on."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from study.check.scales import scale_warnings
from study.check.shapes import ShapeError, course_stack, output_shapes, text
from study.data.shape import DataShape, data_shape
from study.errors import ConfigError
from study.plan.grid import NOT_IDENTITY, Cell, bundle_items
from study.spec.data import DataConfig
from study.spec.document import Study
from study.spec.keys import is_setting_key, setting_of
from study.spec.model import ModelConfig
from study.spec.relevance import effective_settings, inert_settings
from study.spec.task import builtin_task_kind, task_of


@dataclass
class Preflight:
    """What the check found: the data's shapes and how each network structure was checked."""

    data: dict[DataConfig, DataShape] = field(default_factory=dict)
    structures: int = 0  # distinct network structures built
    keras_built: list[str] = field(default_factory=list)  # cells whose structure needed Keras (TensorFlow)
    parameters: dict[str, int] = field(default_factory=dict)  # a Keras-built structure's first cell -> its parameters
    warnings: list[str] = field(default_factory=list)  # advice printed on stderr, not errors

    def lines(self) -> list[str]:
        """A short account for the dry run."""
        out = [f"data: {d.name} {s.train} train / {s.test} test samples from {s.source}" for d, s in self.data.items()]
        how = "pure-Python shapes" if not self.keras_built else f"{len(self.keras_built)} built with Keras (TensorFlow)"
        out.append(f"{self.structures} network structure(s) checked against the data's shape ({how})")
        out.extend(f"  {cell}: {count:,} parameters" for cell, count in self.parameters.items())
        return out


def preflight(study: Study, cells: Sequence[Cell]) -> Preflight:
    """Check everything about the study that can be known before training; raises on the first problem."""
    report = Preflight()
    check_one_numerics(study, cells)
    check_data(study, cells, report)
    check_targets(study, cells)
    check_structures(study, cells, report)
    check_callbacks(study, cells)
    check_own_functions(study, cells, report)
    check_grid_values_used(study, cells)
    check_explicit_settings_take_effect(study, cells)
    check_no_inert_duplicates(study, cells)
    report.warnings = scale_warnings(study, cells)
    for line in report.warnings:
        print(f"warning: {line}", file=sys.stderr)
    return report


def check_one_numerics(study: Study, cells: Sequence[Cell]) -> None:
    """A process sets its numerics once (study/runtime/numerics.py): one mode per study."""
    modes = sorted({cell.settings.train.numerics for cell in cells})
    if len(modes) > 1:
        raise ConfigError(
            f"{study.source}: train.numerics: {' and '.join(modes)} in one study; a process sets its "
            "numerics once, so every cell of a study must use the same (valid: exact, fast)"
        )


# --- data ----------------------------------------------------------------------------------


def check_data(study: Study, cells: Sequence[Cell], report: Preflight) -> None:
    """Subset and batch sizes against the dataset's real sizes (from its headers)."""
    varies = len({cell.settings.data for cell in cells}) > 1
    for cell in cells:
        d = cell.settings.data
        if d not in report.data:
            report.data[d] = data_shape(d)
        shape = report.data[d]
        where = in_cell(cell) if varies else ""
        for key, size, available in (("train_size", d.train_size, shape.train), ("test_size", d.test_size, shape.test)):
            if size is not None and size > available:
                split = key.split("_")[0]
                raise ConfigError(
                    f"{study.source}: data.{key}: {size} but {d.name} in {shape.source} has only "
                    f"{available} {split} samples{where}"
                )
        rows = d.train_size or shape.train
        if cell.settings.train.batch_size > rows:
            raise ConfigError(
                f"{study.source}: train.batch_size: {cell.settings.train.batch_size} is larger than the "
                f"training set ({rows} samples){where}"
            )


def check_targets(study: Study, cells: Sequence[Cell]) -> None:
    """Classification needs class labels, a regression loss real targets (`data.targets`)."""
    for cell in cells:
        loss, d = cell.settings.model.loss, cell.settings.data
        if (task_of(cell.settings).kind == "classification") == (d.targets == "classes"):
            continue
        if builtin_task_kind(loss) is None:
            raise ConfigError(
                f"{study.source}: model.task: {cell.settings.model.task} needs "
                f"{'class labels' if d.targets == 'real' else 'real targets'} and {d.name} has "
                f"{'real targets' if d.targets == 'real' else 'class labels'} (data.targets: {d.targets}) in cell "
                f"{cell.group!r} (valid: classification, regression)"
            )
        if d.targets == "real":
            raise ConfigError(
                f"{study.source}: model.loss: cross_entropy needs class labels and {d.name} has real targets "
                f"(data.targets: real): set model.loss (valid: mse, mae, mape, msle) in cell {cell.group!r}"
            )
        raise ConfigError(
            f"{study.source}: model.loss: {loss} is a regression loss and {d.name} has class labels: set "
            f"data.targets: real (npz, csv) or model.loss: cross_entropy in cell {cell.group!r}"
        )


# --- network structures --------------------------------------------------------------------


def structure_key(model: ModelConfig, shape: DataShape) -> str:
    """What decides the layer shapes: the stack (or hidden sizes) and the input."""
    stack = [layer.model_dump(mode="json") for layer in model.layers] if model.layers is not None else None
    if model.builder is not None:  # the builder's code and arguments decide its structure
        return json.dumps([model.builder, model.args, model.loss, shape.input_shape, shape.num_outputs], default=str)
    return json.dumps([stack, model.hidden if stack is None else None, shape.input_shape, shape.num_outputs])


def check_structures(study: Study, cells: Sequence[Cell], report: Preflight) -> None:
    """Build every distinct structure once against the data's shape; a failure names the cell and layer."""
    keys = [structure_key(cell.settings.model, report.data[cell.settings.data]) for cell in cells]
    seen: set[str] = set()
    for cell, key in zip(cells, keys):
        model, shape = cell.settings.model, report.data[cell.settings.data]
        if key in seen:
            continue
        seen.add(key)
        report.structures += 1
        try:
            if model.builder is not None:
                report.keras_built.append(cell.group)
                report.parameters[cell.group] = own_build(study, cell, shape, len(set(keys)) > 1)
            elif course_stack(model):
                output_shapes(model, shape.input_shape, shape.num_outputs)
            else:
                report.keras_built.append(cell.group)
                report.parameters[cell.group] = keras_build(model, shape)
        except ShapeError as exc:
            where = in_cell(cell) if len(set(keys)) > 1 else ""
            raise ConfigError(f"{study.source}: {stack_name(model)}: {exc}{where}") from None


def keras_build(model: ModelConfig, shape: DataShape) -> int:
    """Build a stack with Keras layers beyond the course's symbolically (imports TensorFlow); its parameters."""
    from study.engine.build import build_model
    from study.engine.own_model import parameter_count

    try:
        return parameter_count(build_model(model, shape.input_shape, shape.num_outputs))
    except Exception as exc:  # Keras raises ValueError, TypeError, ...: any of them means the stack cannot work
        message = " ".join(str(exc).split())
        raise ShapeError(f"Keras cannot build the stack on a {text(shape.input_shape)} input: {message}") from None


def own_build(study: Study, cell: Cell, shape: DataShape, several: bool) -> int:
    """Import, call and check the cell's `model.builder` once (imports TensorFlow); its parameter count. Any
    problem is one ConfigError naming the study file, the key and the builder."""
    from study.engine.own_model import build_own, parameter_count
    from study.spec.builder import BuilderError

    model = cell.settings.model
    try:
        return parameter_count(build_own(model, shape.input_shape, shape.num_outputs))
    except BuilderError as exc:
        where = in_cell(cell) if several else ""
        raise ConfigError(f"{study.source}: model.builder: {shown_ref(model.builder)}: {exc}{where}") from None


def check_callbacks(study: Study, cells: Sequence[Cell]) -> None:
    """Each `train.callbacks` reference imported and made once (imports TensorFlow); a problem is one line."""
    refs = list(dict.fromkeys(ref for cell in cells for ref in cell.settings.train.callbacks))
    if not refs:
        return
    from study.engine.own_model import own_callbacks
    from study.spec.builder import BuilderError

    for ref in refs:
        try:
            own_callbacks([ref])
        except BuilderError as exc:
            raise ConfigError(f"{study.source}: train.callbacks: {shown_ref(ref)}: {exc}") from None


def check_own_functions(study: Study, cells: Sequence[Cell], report: Preflight) -> None:
    """Your own `model.loss` and `train.metrics` imported and called once on a probe batch of each task and
    output width they meet (imports TensorFlow); a problem is one line."""
    probes: dict[tuple[str, str, str, int, bool], None] = {}
    for cell in cells:
        settings, outputs = cell.settings, report.data[cell.settings.data].num_outputs
        kind = task_of(settings).kind
        if builtin_task_kind(settings.model.loss) is None:
            probes[("model.loss", settings.model.loss, kind, outputs, True)] = None
        probes.update(dict.fromkeys(("train.metrics", ref, kind, outputs, False) for ref in settings.train.metrics))
    if not probes:
        return
    from study.engine.own_functions import check_own_function
    from study.spec.builder import BuilderError

    for key, ref, kind, outputs, is_loss in probes:
        try:
            check_own_function(ref, kind, outputs, is_loss)
        except BuilderError as exc:
            raise ConfigError(f"{study.source}: {key}: {shown_ref(ref)}: {exc}") from None


def shown_ref(ref: str | None) -> str:
    """A builder reference as the user reads it: a path relative to the current folder where it is below it."""
    import os

    module, _, function = str(ref).rpartition(":")
    if module.endswith(".py") and os.path.isabs(module):
        relative = os.path.relpath(module)
        module = relative if not relative.startswith("..") else module
    return f"{module}:{function}"


def stack_name(model: ModelConfig) -> str:
    """How the user wrote the stack: its architecture's name, `model.layers` or `model.hidden`."""
    if model.arch:
        return f"architectures.{model.arch}"
    return "model.layers" if model.layers is not None else "model.hidden"


def in_cell(cell: Cell) -> str:
    """` (in the grid cell …)`, for a problem only some cells have."""
    return f" (in the grid cell {cell.group!r})"


# --- grid values and explicit settings -----------------------------------------------------


def check_grid_values_used(study: Study, cells: Sequence[Cell]) -> None:
    """A grid value that every `exclude` entry removes never runs: almost surely a mistake."""
    for key, values in study.spec.grid.items():
        for value in values:
            if not any(cell.axes[key] == value for cell in cells):
                raise ConfigError(
                    f"{study.source}: grid.{key}: the value {shown(value)} is in no cell (exclude removes every "
                    "cell with it); remove it from the grid or narrow the exclude entry"
                )


def shown(value: Any) -> str:
    """An axis value as the user recognises it: a bundle by its label."""
    if isinstance(value, dict) and "label" in value:
        return repr(value["label"])
    return repr(value)


def explicit_settings(study: Study) -> list[tuple[str, str, Any]]:
    """(dotted key, where it was written, which cells it is meant for) for every setting the user gave.

    `which` is None for every cell, or (axis, value) for the cells of one grid value.
    """
    out: list[tuple[str, str, Any]] = []
    for section, fields in study.spec.base.items():
        if isinstance(fields, dict):
            out.extend((f"{section}.{name}", f"base.{section}.{name}", None) for name in fields)
    for axis, values in study.spec.grid.items():
        if is_setting_key(axis):
            out.append((axis, f"grid.{axis}", None))
            continue
        for i, value in enumerate(values):
            out.extend((sub, f"grid.{axis}[{i}].{sub}", (axis, value)) for sub, _ in bundle_items(axis, value))
    return out


def check_explicit_settings_take_effect(study: Study, cells: Sequence[Cell]) -> None:
    """Refuse a setting written explicitly that has no effect in any cell it applies to."""
    inert = [inert_settings(cell.settings) for cell in cells]
    for key, where, which in explicit_settings(study):
        mine = [i for i, cell in enumerate(cells) if which is None or cell.axes[which[0]] == which[1]]
        setting = setting_of(key)
        if mine and all(setting in inert[i] for i in mine):
            scope = "in any cell" if which is None else "in the cells of this grid value"
            raise ConfigError(
                f"{study.source}: {where}: {key} has no effect {scope}: {inert[mine[0]][setting]}; remove it"
            )


def effective_identity(cell: Cell) -> str:
    """The cell's identity without its inert settings: equal for cells that compute the same numbers."""
    doc = effective_settings(cell.settings)
    for section, name in NOT_IDENTITY:
        doc.pop(f"{section}.{name}", None)
    if doc.get("train.numerics") == "exact":
        doc.pop("train.numerics")
    return json.dumps([doc, cell.seed], sort_keys=True)


def check_no_inert_duplicates(study: Study, cells: Sequence[Cell]) -> None:
    """Two cells that differ only in settings inert for both would train the same numbers twice."""
    seen: dict[str, Cell] = {}
    for cell in cells:
        key = effective_identity(cell)
        first = seen.setdefault(key, cell)
        if first is cell:
            continue
        a, b = first.settings.model_dump(mode="json"), cell.settings.model_dump(mode="json")
        differ = [f"{s}.{f}" for s in a for f in a[s] if a[s][f] != b[s][f]]
        why = inert_settings(cell.settings).get(differ[0], "") if differ else ""
        raise ConfigError(
            f"{study.source}: grid: cells {first.name!r} and {cell.name!r} differ only in {', '.join(differ)}, "
            f"which has no effect there ({why}): they would train the same numbers twice; "
            f"remove one with an `exclude` entry"
        )
