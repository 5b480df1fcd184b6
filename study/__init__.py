"""study: declarative Keras experiment grids, tracked in MLflow, compared in a report.

The Python API, the same functions the `study` command calls:

    import study
    result = study.run("configs/smoke.yaml", store="mlruns")   # train; result.cells is a DataFrame
    study.runs("smoke", store="mlruns")                         # tidy DataFrames read from the store
    study.curves("smoke", store="mlruns")
    study.report("smoke", store="mlruns")                       # reports/smoke/report.html
    study.compare(parent_a, parent_b)                           # B − A per shared cell, beyond seed noise?
    study.rm(parent_a)                                          # soft-delete a run's runs (purge=True: for good)
    study.best_model("smoke").model                             # the kept best model, a keras.Model

`import study` imports nothing heavy: each name is loaded when first used."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from study.version import __version__ as __version__

__all__ = [
    "load",
    "cells",
    "run",
    "runs",
    "curves",
    "report",
    "compare",
    "rm",
    "best_model",
    "RunResult",
    "BestModel",
    "StudyError",
]

if TYPE_CHECKING:
    from study.api import BestModel, RunResult, best_model, cells, compare, curves, load, report, rm, run, runs
    from study.errors import StudyError


def __getattr__(name: str) -> Any:
    """Load an API name on first use (PEP 562), so that `import study` stays instant."""
    if name == "StudyError":
        from study.errors import StudyError

        return StudyError
    if name in __all__:
        return getattr(importlib.import_module("study.api"), name)
    raise AttributeError(f"module 'study' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
