"""A first correction for a kind of net that no cell has trained on this machine yet, where the matrix-multiply
rate is known not to predict TensorFlow's speed: convolutions (without oneDNN they ran at half the estimated
rate on an AVX2 CPU). The costliest cell of that kind trains a few eval periods on random data of its shapes
in a process of its own, and its seconds against their estimate go into this machine's calibration, where
the run's own cells later outweigh them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict

from study.check.estimate import cell_kind, training_parts, training_seconds
from study.data.shape import DataShape
from study.plan.grid import Cell
from study.runtime.calibration import Calibration, Observed, calibration, record
from study.spec.settings import Settings

PROBED_FAMILIES = ("conv",)  # study/check/estimate.py `cell_kind`'s families whose speed the rate does not predict
PROBE_S = 1.0  # the estimated training seconds a probe aims at (it trains twice: once to build, once timed)
WORTH_S = 60.0  # the least a kind's cells are estimated to train for a probe (~15 s with its TensorFlow import)
MAX_ROWS = 10_000  # rows per split of the random data (enough for the evaluations' share of the time)
TIMEOUT_S = 180.0  # a probe still running then is given up: the estimate stays uncorrected
SWITCH = "STUDY_SPEED_PROBE"  # `off`: no probe (a dry run that only validates, e.g. in CI)


def probe_new_kinds(
    cells: Sequence[Cell], shapes: dict, rate: float, say: Callable[[str], None] = lambda line: None
) -> dict[str, Observed]:
    """Probe each probed kind of these cells that this machine's calibration has no record of, record what
    the probes measured and return it; `say` hears a line before each probe. None with STUDY_SPEED_PROBE=off."""
    measured: dict[str, Observed] = {}
    if os.environ.get(SWITCH, "").strip().lower() in ("off", "0", "no", "false"):
        return measured
    for kind, cell in unknown_kinds(cells, shapes, rate, calibration()).items():
        settings, data = probe_setup(cell.settings, shapes[cell.settings.data], rate)
        say(f"estimate: timing TensorFlow on this machine's first {kind} nets (cell {cell.name}; ~15 s, once) …")
        seconds = run_probe(settings, data)
        if seconds is not None:
            measured[kind] = Observed.cell(*training_parts(settings, data, rate), seconds, cells=0.0)
    if measured:
        record(measured)
    return measured


def unknown_kinds(cells: Sequence[Cell], shapes: dict, rate: float, known: Calibration) -> dict[str, Cell]:
    """Per probed kind without a record here whose cells are estimated to train WORTH_S or more, its cell
    estimated to take longest."""
    costliest: dict[str, tuple[float, Cell]] = {}
    total: dict[str, float] = {}
    for cell in cells:
        kind = cell_kind(cell.settings)
        if kind.split("/")[-1] not in PROBED_FAMILIES or kind in known.kinds:
            continue
        seconds = training_seconds(cell.settings, shapes[cell.settings.data], rate)
        total[kind] = total.get(kind, 0.0) + seconds
        if kind not in costliest or seconds > costliest[kind][0]:
            costliest[kind] = (seconds, cell)
    return {kind: cell for kind, (_, cell) in costliest.items() if total[kind] >= WORTH_S}


def probe_setup(settings: Settings, shape: DataShape, rate: float) -> tuple[Settings, DataShape]:
    """The probe's settings and data: the cell's net and schedule, without early stopping, callbacks or a
    validation split, for whole eval periods estimated to take about PROBE_S; where one period takes longer,
    a shorter period over fewer rows, its steps and rows cut alike so that their mix stays the cell's."""
    t = settings.train
    train = min(settings.data.train_size or shape.train, shape.train, MAX_ROWS)
    test = min(settings.data.test_size or shape.test, shape.test, MAX_ROWS)
    period = min(t.eval_every, t.iterations)
    share = PROBE_S / max(training_seconds(*_probe(settings, shape, period, period, train, test), rate), 1e-9)
    if share >= 1:
        return _probe(settings, shape, period, period * min(round(share), t.iterations // period), train, test)

    def cut(n: int, least: int) -> int:
        return max(least, round(n * share))

    return _probe(settings, shape, cut(period, 1), cut(period, 1), cut(train, min(t.batch_size, train)), cut(test, 1))


def _probe(
    settings: Settings, shape: DataShape, period: int, iterations: int, train: int, test: int
) -> tuple[Settings, DataShape]:
    """The cell's settings trained `iterations` steps, evaluated every `period`, on train and test rows."""
    rows = DataShape(train, test, shape.input_shape, shape.num_classes, shape.num_outputs, "random")
    data = settings.data.model_copy(update={"train_size": train, "test_size": test, "validation": None})
    schedule: dict[str, object] = {
        "iterations": iterations,
        "eval_every": period,
        "early_stopping": None,
        "callbacks": [],
    }
    return settings.model_copy(update={"data": data, "train": settings.train.model_copy(update=schedule)}), rows


def run_probe(settings: Settings, data: DataShape) -> float | None:
    """The probe's timed seconds (study/engine/speed_probe.py, in a new process), or None when it fails."""
    request = {"settings": settings.model_dump(mode="json"), "data": asdict(data)}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "study.engine.speed_probe"],
            input=json.dumps(request),
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=True,
        )
        seconds = float(json.loads(done.stdout.strip().splitlines()[-1])["seconds"])
    except (OSError, subprocess.SubprocessError, ValueError, KeyError, IndexError, TypeError):
        return None
    return seconds if seconds > 0 else None
