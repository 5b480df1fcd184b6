"""How this machine's cells trained against their estimate, per kind of net: the correction the dry run and
the progress bar apply, kept in the user's cache folder beside the machine's rate.

The estimate (study/check/estimate.py) has two parts a cell: its arithmetic, priced at the rate NumPy's
matrix multiply reaches, and its fixed costs (steps, evaluations, its build), priced at constants measured
on the reference machine. What TensorFlow reaches on another CPU differs by kind of net and by part:
without oneDNN (an AVX2 CPU), convolutions trained 2.5x slower than estimated while dense nets were within
a quarter. So every `study run` records, per kind, the sums a least-squares fit of each cell's seconds as
a x its arithmetic + b x its fixed costs needs, older runs weighing half at each new record so that a
changed machine or package shows within a few runs. The fit holds each factor toward 1 where the cells do
not tell the parts apart: 200 tiny cells, nearly all fixed cost, set b and leave a, which an arithmetic-heavy
study of the same kind then gets, as it was.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import astuple, dataclass, field
from pathlib import Path

from study.runtime.cache import cache_dir
from study.runtime.rate import machine_key

CACHE_FILE = "calibration.json"
FORMAT = 2  # the sums below; a file of another format (format 1 kept one ratio a kind) is not read
DECAY = 0.5  # what the runs recorded so far weigh against a new run's cells
RIDGE = 0.05  # each factor's pull toward 1, as a share of the cells' summed squared estimates
FACTOR_RANGE = (0.1, 20.0)  # a factor outside it says more about a broken record than about the machine


@dataclass(frozen=True)
class Observed:
    """Cells of one kind as the fit needs them: the sums, over the cells, of the products of their estimated
    arithmetic seconds (a), their other estimated seconds (f) and the seconds they took (m); how many cells."""

    aa: float = 0.0
    af: float = 0.0
    ff: float = 0.0
    am: float = 0.0
    fm: float = 0.0
    cells: float = 0.0

    @classmethod
    def cell(cls, arithmetic: float, fixed: float, measured: float, cells: float = 1.0) -> Observed:
        """One cell (or a probe, counted as `cells`) estimated at arithmetic + fixed seconds that took `measured`."""
        a, f, m = arithmetic, fixed, measured
        return cls(a * a, a * f, f * f, a * m, f * m, cells)

    def plus(self, more: Observed) -> Observed:
        """These cells and more, all weighing alike."""
        return Observed(*(a + b for a, b in zip(self.fields(), more.fields())))

    def then(self, new: Observed) -> Observed:
        """These cells, weighing DECAY, and a new run's."""
        return Observed(*(DECAY * old + more for old, more in zip(self.fields(), new.fields())))

    def fields(self) -> tuple[float, ...]:
        return astuple(self)

    def factors(self) -> tuple[float, float]:
        """(a, b): the factors of the arithmetic and of the fixed costs that fit these cells best in least
        squares, each held toward 1 by RIDGE."""
        pull = RIDGE * (self.aa + self.ff)
        p, q, r = self.aa + pull, self.af, self.ff + pull
        u, v = self.am + pull, self.fm + pull
        det = p * r - q * q  # > 0 with a pull: aa * ff >= af ** 2
        if not det > 0:
            return 1.0, 1.0
        return _bounded((u * r - q * v) / det), _bounded((p * v - q * u) / det)


def _bounded(factor: float) -> float:
    """A fitted factor, within FACTOR_RANGE."""
    low, high = FACTOR_RANGE
    return min(max(factor, low), high)


@dataclass(frozen=True)
class Calibration:
    """Per kind of cell (study/check/estimate.py `cell_kind`), what this machine's cells did against their estimate."""

    kinds: dict[str, Observed] = field(default_factory=dict)

    def factors(self, kind: str) -> tuple[float, float]:
        """(arithmetic, fixed costs): this kind's factors here; (1, 1) where none has trained yet."""
        seen = self.kinds.get(kind)
        return seen.factors() if seen is not None else (1.0, 1.0)

    def cells(self, kinds) -> int:
        """How many cells (old ones weighing less) the corrections of these kinds stand on."""
        return round(sum(self.kinds[k].cells for k in set(kinds) if k in self.kinds))


def calibration(folder: Path | None = None) -> Calibration:
    """This machine's calibration; empty where none is recorded (or the file is another machine's or unreadable)."""
    try:
        doc = json.loads(((folder or cache_dir()) / CACHE_FILE).read_text(encoding="utf-8"))
        if doc.get("machine") != machine_key() or doc.get("format") != FORMAT:
            return Calibration()
        width = len(Observed().fields())
        if any(len(seen) != width for seen in doc["kinds"].values()):
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
                merged[kind] = merged.get(kind, Observed()).then(new)
            doc = {
                "machine": machine_key(),
                "format": FORMAT,
                "kinds": {kind: seen.fields() for kind, seen in merged.items()},
            }
            with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False, encoding="utf-8") as f:
                json.dump(doc, f, indent=1)
            os.replace(f.name, path)
    except (OSError, Timeout):
        pass
