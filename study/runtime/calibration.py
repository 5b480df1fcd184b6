"""How this machine's cells trained against their estimate, per kind of net: the correction the dry run and
the progress bar apply, kept in the user's cache folder beside the machine's rate.

The estimate (study/check/estimate.py) prices a cell's arithmetic at the rate NumPy's matrix multiply
reaches and its steps at constants measured on the reference machine. What TensorFlow reaches on another
CPU differs by kind of net: without oneDNN (an AVX2 CPU), convolutions trained 2.5x slower than estimated
while dense nets were within a quarter. So every `study run` records, per kind, the seconds its cells were
estimated and the seconds they took; a kind's correction is their ratio, older runs weighing half at
each new record so that a changed machine or package shows within a few runs.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from study.runtime.cache import cache_dir
from study.runtime.rate import machine_key

CACHE_FILE = "calibration.json"
DECAY = 0.5  # what the runs recorded so far weigh against a new run's cells


@dataclass(frozen=True)
class Observed:
    """Cells of one kind: the seconds they were estimated to train, the seconds they took, how many."""

    estimated: float
    measured: float
    cells: float

    def plus(self, more: Observed) -> Observed:
        """These cells and more, all weighing alike."""
        return Observed(*(a + b for a, b in zip(self.fields(), more.fields())))

    def then(self, new: Observed) -> Observed:
        """These cells, weighing DECAY, and a new run's."""
        return Observed(*(DECAY * old + more for old, more in zip(self.fields(), new.fields())))

    def fields(self) -> tuple[float, float, float]:
        return self.estimated, self.measured, self.cells


@dataclass(frozen=True)
class Calibration:
    """Per kind of cell (study/check/estimate.py `cell_kind`), what this machine's cells did against their estimate."""

    kinds: dict[str, Observed] = field(default_factory=dict)

    def ratio(self, kind: str) -> float:
        """Seconds taken per second estimated for this kind here; 1 where none has trained yet."""
        seen = self.kinds.get(kind)
        return seen.measured / seen.estimated if seen is not None and seen.estimated > 0 else 1.0

    def cells(self, kinds) -> int:
        """How many cells (old ones weighing less) the corrections of these kinds stand on."""
        return round(sum(self.kinds[k].cells for k in set(kinds) if k in self.kinds))


def calibration(folder: Path | None = None) -> Calibration:
    """This machine's calibration; empty where none is recorded (or the file is another machine's or unreadable)."""
    try:
        doc = json.loads(((folder or cache_dir()) / CACHE_FILE).read_text(encoding="utf-8"))
        if doc.get("machine") != machine_key():
            return Calibration()
        return Calibration({kind: Observed(*map(float, seen)) for kind, seen in doc["kinds"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return Calibration()


def record(cells: dict[str, Observed], folder: Path | None = None) -> None:
    """Add a run's cells, per kind, to this machine's calibration (the earlier ones weighing DECAY). Written
    whole under a lock; an unwritable cache folder only means the next estimate is not corrected."""
    from filelock import FileLock, Timeout

    path = (folder or cache_dir()) / CACHE_FILE
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with FileLock(str(path) + ".lock", timeout=10):
            merged = dict(calibration(path.parent).kinds)
            for kind, new in cells.items():
                merged[kind] = merged.get(kind, Observed(0.0, 0.0, 0.0)).then(new)
            doc = {"machine": machine_key(), "kinds": {kind: seen.fields() for kind, seen in merged.items()}}
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
            os.replace(f.name, path)
    except (OSError, Timeout):
        pass
