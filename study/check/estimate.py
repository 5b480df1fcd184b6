"""How long `study run` will take and how much it will store, from the plan alone (`--dry-run`).

A cell's time is its arithmetic — FLOPs from the net's structure and the schedule, over this machine's
measured matrix-multiply rate (study/runtime/rate.py) — plus what the arithmetic does not show: each
training step's and each evaluation's fixed cost in TensorFlow's runtime, a new structure's build and
trace (the engine keeps a few; `ENGINE_CACHE`), and the cell's bookkeeping in the store. The constants
are measured on the project's 2-core reference machine (benchmarks/README.md, `python -m benchmarks.scale`);
how this machine's cells of each kind trained against them corrects the training part
(study/runtime/calibration.py)."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from study.check.shapes import course_stack, kind, output_shapes
from study.data.shape import DataShape
from study.plan.grid import Cell
from study.runtime.calibration import Calibration
from study.spec.layers import Conv2DLayer
from study.spec.model import ModelConfig
from study.spec.settings import Settings

# The engine's own numbers, restated without importing TensorFlow (a unit test holds them equal to
# study/engine/graph.py's FULL_TRAIN_EVAL_LIMIT and ENGINE_CACHE_SIZE):
FULL_TRAIN_EVAL_LIMIT = 10_000  # `eval_train: auto` evaluates the whole training set up to this size
ENGINE_CACHE = 16  # engines a training process keeps (a structure seen again within them is not rebuilt)
# the engine's share of the rate.py benchmark's rate: a 170-GFLOP cell trains in 1.86 s (per_cell.json) where the
# benchmark measures 190-225 GFLOP/s
ENGINE_EFFICIENCY = 0.45
STEP_S = 1.0e-4  # a training step's fixed cost per layer with weights (a batch-normalised one counts twice)
EVAL_S = 2.0e-4  # an evaluation's fixed cost (its forward passes and the records it hands back)
BUILD_S = 1.0  # a new structure: the Keras model, its optimizer, the trace of its chunk graph, its first call
CELL_S = 0.1  # a cell's bookkeeping: its run, params, tags, inputs, curve and model in the store
START_S = 7.0  # TensorFlow's import, the data load, the store's opening and the study's end
WORKER_START_S = 6.0  # each further worker process imports TensorFlow and loads the data itself
METRIC_ROW_BYTES = 250  # one metric value in MLflow's SQLite store (its history row and index entries)
CELL_BYTES = 75_000  # a cell run's params, tags, dataset inputs, system metrics, config.yaml and learning_curve.png
DIAGNOSTICS_PER_LAYER = 8  # per-layer diagnostics (gradient, weight and update norms; activation statistics)
MODEL_BYTES = 30_000  # a kept model's files besides its weights (MLmodel, environment, input example)


@dataclass(frozen=True)
class Estimate:
    """The whole run's predicted wall time and store growth, with the parts they are made of."""

    seconds: float
    uncorrected_s: float  # the same before this machine's correction (calibration)
    arithmetic_s: float  # the cells' FLOPs over the engine's rate
    overhead_s: float  # steps, evaluations, builds and bookkeeping
    start_s: float
    store_bytes: int
    flops: float
    cells: int
    builds: int
    rate: float  # FLOP/s the matmul benchmark measured
    correction: float = 1.0  # the training part's factor from how this machine's cells trained (calibration)
    calibrated_on: int = 0  # the cells that factor stands on

    def line(self) -> str:
        """One line for the dry run."""
        if self.calibrated_on:
            corrected = f"; x{self.correction:.2f} as {self.calibrated_on} cells of these kinds trained here"
        elif self.correction != 1.0:
            corrected = f"; x{self.correction:.2f} as a short probe of these kinds trained here"
        else:
            corrected = "; not yet corrected by cells trained here"
        return (
            f"estimate: about {duration(self.seconds)} ({self.cells} runs: {duration(self.arithmetic_s)} of "
            f"arithmetic, {self.flops / 1e9:,.0f} GFLOP at {self.rate / 1e9:,.0f} GFLOP/s measured here; "
            f"{duration(self.overhead_s)} of per-step, per-cell and {self.builds} graph-build costs; "
            f"{duration(self.start_s)} to start{corrected}), {size(self.store_bytes)} more in the store"
        )


def duration(seconds: float) -> str:
    """'45 s', '3 min 20 s', '2 h 05 min'."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def size(n: float) -> str:
    """'820 kB', '14 MB', '1.2 GB'."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}" if n < 10 * scale else f"{n / scale:.0f} {unit}"
    return f"{n / 1e3:.0f} kB"


def forward_macs(model: ModelConfig, input_shape: tuple[int, ...], num_outputs: int) -> int:
    """Multiply-adds of one sample's forward pass through the dense and convolution layers (the rest is
    element-wise and not counted); 0 for a stack beyond the course's layer types."""
    if model.builder is not None or not course_stack(model):
        return 0
    shapes = output_shapes(model, input_shape, num_outputs)
    specs = list(model.layers) if model.layers is not None else [None] * len(model.hidden) + [None]
    macs, shape = 0, tuple(input_shape)
    for spec, (_, out) in zip(specs, shapes):
        if spec is None or kind(spec) == "dense":
            macs += math.prod(shape) * out[0]
        elif isinstance(spec, Conv2DLayer):
            channels = shape[2] if len(shape) == 3 else 1
            macs += math.prod(out) * spec.kernel * spec.kernel * channels
        shape = out
    return macs


def evaluations(settings: Settings) -> int:
    """Evaluation points: iteration 0, every `eval_every`, and the last."""
    t = settings.train
    return 1 + t.iterations // t.eval_every + (t.iterations % t.eval_every != 0)


def eval_rows(settings: Settings, shape: DataShape) -> int:
    """Rows one evaluation runs forward: the test (sub)set, the training rows it measures, a validation set."""
    d, t = settings.data, settings.train
    train = min(d.train_size or shape.train, shape.train)
    test = min(d.test_size or shape.test, shape.test)
    full = t.eval_train == "full" or (t.eval_train == "auto" and train <= FULL_TRAIN_EVAL_LIMIT)
    held = d.validation
    validation = (
        0 if held is None else held.size or round((held.fraction or 0) * shape.train / (1 - (held.fraction or 0)))
    )
    return test + (train if full else t.batch_size) + validation


def cell_flops(settings: Settings, shape: DataShape) -> float:
    """FLOPs of one cell: a training step is three forward passes of its batch (forward, and the backward
    pass's two products), an evaluation one forward pass of its rows; 2 FLOPs a multiply-add."""
    macs = forward_macs(settings.model, shape.input_shape, shape.num_outputs)
    t = settings.train
    return 2.0 * macs * (3 * t.batch_size * t.iterations + evaluations(settings) * eval_rows(settings, shape))


def structure(settings: Settings) -> str:
    """What a cell's engine is built for: its settings without those a cached engine takes as they are
    (initialiser, learning rate, schedule lengths)."""
    doc = settings.model_dump(mode="json")
    for section, names in (("model", ("initializer", "init_std")), ("optimizer", ("lr",))):
        for name in names:
            doc[section].pop(name, None)
    for name in ("iterations", "eval_every", "steps_per_call", "diagnostics_every", "early_stopping"):
        doc["train"].pop(name, None)
    return json.dumps(doc, sort_keys=True)


def built(cells: Sequence[Cell], workers: int = 1) -> list[bool]:
    """Per cell, whether its engine is built when the cells run in order (each worker keeps the last
    ENGINE_CACHE structures of its share, cells[k::workers])."""
    out = [False] * len(cells)
    for k in range(workers):
        cache: OrderedDict[str, None] = OrderedDict()
        for index in range(k, len(cells), workers):
            key = structure(cells[index].settings)
            if key in cache:
                cache.move_to_end(key)
                continue
            out[index] = True
            cache[key] = None
            if len(cache) > ENGINE_CACHE:
                cache.popitem(last=False)
    return out


def builds(cells: Sequence[Cell], workers: int = 1) -> int:
    """Engines built when the cells run in order among `workers` processes."""
    return sum(built(cells, workers))


def cell_kind(settings: Settings) -> str:
    """What a machine's correction is kept per: the numerics mode and the kind of net (dense, convolutional,
    a builder's own), whose kernels run at different speeds from one CPU to another."""
    model = settings.model
    if model.builder is not None:
        family = "builder"
    elif model.layers is not None and any(isinstance(spec, Conv2DLayer) for spec in model.layers):
        family = "conv"
    else:
        family = "dense"
    return f"{settings.train.numerics}/{family}"


def weighted_layers(model: ModelConfig) -> int:
    """The layers with weights: each hidden layer and the output of a dense stack, or the dense and
    convolution layers written (a builder's model: counted as one)."""
    if model.layers is None:
        return len(model.hidden) + 1
    return max(1, sum(kind(spec) in ("dense", "conv2d") for spec in model.layers))


def step_layers(model: ModelConfig) -> int:
    """What a training step's fixed cost is counted in: the layers with weights, twice with batch norm."""
    return weighted_layers(model) * (2 if model.batch_norm != "off" else 1)


def store_bytes(cells: Sequence[Cell], shape_of, kept_model: bool) -> int:
    """The store's growth: each cell's metric rows and run files, and the kept model."""
    total = 0
    for cell in cells:
        t = cell.settings.train
        rows = t.iterations + 4 * evaluations(cell.settings)  # train_loss; accuracy and loss on the splits
        if t.diagnostics_every:
            rows += (
                (t.iterations // t.diagnostics_every + 1) * DIAGNOSTICS_PER_LAYER * weighted_layers(cell.settings.model)
            )
        total += rows * METRIC_ROW_BYTES + CELL_BYTES
    if kept_model and cells:
        macs = forward_macs(cells[0].settings.model, *shape_of(cells[0]))
        total += MODEL_BYTES + 4 * macs  # float32 weights: about one per multiply-add of a dense net
    return total


def trained_seconds(cells: Sequence[Cell], shapes: dict, rate: float, workers: int = 1) -> list[float]:
    """Each cell's predicted build and training seconds, uncorrected (what its run's `wall_time_s` measures)."""
    return [arithmetic + fixed for arithmetic, fixed in trained_parts(cells, shapes, rate, workers)]


def trained_parts(cells: Sequence[Cell], shapes: dict, rate: float, workers: int = 1) -> list[tuple[float, float]]:
    """Each cell's predicted (arithmetic, fixed) seconds, uncorrected: its FLOPs over the engine's share of
    `rate`, and its steps', evaluations' and, where the engine cache misses, its build's fixed costs."""
    out = []
    for cell, new in zip(cells, built(cells, workers)):
        arithmetic, fixed = training_parts(cell.settings, shapes[cell.settings.data], rate)
        out.append((arithmetic, fixed + (BUILD_S if new else 0.0)))
    return out


def training_seconds(settings: Settings, shape: DataShape, rate: float) -> float:
    """One cell's predicted training seconds on an engine already built, uncorrected."""
    return sum(training_parts(settings, shape, rate))


def training_parts(settings: Settings, shape: DataShape, rate: float) -> tuple[float, float]:
    """One cell's predicted (arithmetic, fixed) training seconds on an engine already built: its FLOPs over the
    engine's share of `rate`, and its steps' and evaluations' fixed costs."""
    arithmetic = cell_flops(settings, shape) / (rate * ENGINE_EFFICIENCY)
    steps = settings.train.iterations * step_layers(settings.model) * STEP_S
    return arithmetic, steps + evaluations(settings) * EVAL_S


def corrected_seconds(
    cells: Sequence[Cell], parts: Sequence[tuple[float, float]], calibration: Calibration
) -> list[float]:
    """Each cell's (arithmetic, fixed) seconds with this machine's factors for its kind applied."""
    out = []
    for cell, (arithmetic, fixed) in zip(cells, parts):
        a, b = calibration.factors(cell_kind(cell.settings))
        out.append(a * arithmetic + b * fixed)
    return out


def cell_seconds(
    cells: Sequence[Cell], shapes: dict, rate: float, calibration: Calibration | None = None
) -> list[float]:
    """Each cell's predicted seconds in one process, in order: its training, corrected for its kind on this
    machine, and its bookkeeping."""
    parts = trained_parts(cells, shapes, rate)
    return [t + CELL_S for t in corrected_seconds(cells, parts, calibration or Calibration())]


def remaining(predicted: Sequence[float], done: int, elapsed: float) -> float:
    """Seconds left after `done` cells took `elapsed`: the rest of the prediction, scaled by how far the
    cells so far ran over or under theirs (the progress bar's ETA, from the first cell on)."""
    ahead = sum(predicted[done:])
    behind = sum(predicted[:done])
    return ahead * (elapsed / behind) if done and behind > 0 else ahead


def estimate(
    cells: Sequence[Cell],
    shapes: dict,
    rate: float,
    workers: int = 1,
    kept_model: bool = True,
    calibration: Calibration | None = None,
) -> Estimate:
    """The run's wall time: start-up, then the cells' training (corrected for this machine) and bookkeeping
    shared among `workers`."""
    workers = max(1, min(workers, len(cells)))
    calibration = calibration or Calibration()

    def shape_of(cell: Cell) -> tuple[tuple[int, ...], int]:
        s = shapes[cell.settings.data]
        return s.input_shape, s.num_outputs

    flops = sum(cell_flops(c.settings, shapes[c.settings.data]) for c in cells)
    arithmetic = flops / (rate * ENGINE_EFFICIENCY)
    parts = trained_parts(cells, shapes, rate, workers)
    trained = [arithmetic + fixed for arithmetic, fixed in parts]
    corrected = sum(corrected_seconds(cells, parts, calibration))
    bookkeeping = len(cells) * CELL_S
    start = START_S + (workers - 1) * WORKER_START_S / workers
    seconds = start + (corrected + bookkeeping) / workers
    return Estimate(
        seconds,
        start + (sum(trained) + bookkeeping) / workers,
        arithmetic,
        sum(trained) - arithmetic + bookkeeping,
        start,
        store_bytes(cells, shape_of, kept_model),
        flops,
        len(cells),
        builds(cells, workers),
        rate,
        corrected / sum(trained) if sum(trained) > 0 else 1.0,
        calibration.cells(cell_kind(c.settings) for c in cells),
    )
