"""study: declarative Keras experiment grids, tracked in MLflow, compared in a report.

The Python API (study/api.py; docs/api.md), the same functions the `study` command calls:

    import study
    result = study.run("configs/smoke.yaml", store="mlruns")   # train; result.cells is a DataFrame
    study.runs("smoke", store="mlruns")                         # tidy DataFrames read from the store
    study.curves("smoke", store="mlruns")
    study.report("smoke", store="mlruns")                       # reports/smoke/report.html
    study.compare(parent_a, parent_b)                           # B − A per shared cell, beyond seed noise?
    study.rm(parent_a)                                          # soft-delete a run's runs (purge=True: for good)

`import study` imports nothing heavy: each name is loaded from study.api when first used.
"""

from __future__ import annotations

import importlib
import inspect
import types
from typing import TYPE_CHECKING, Any

from study.version import __version__ as __version__

__all__ = ["load", "cells", "run", "runs", "curves", "report", "compare", "rm", "RunResult", "StudyError"]

PACKAGE_FUNCTIONS = ("run", "report")
"""API functions that share their name with a subpackage (study/run/, study/report/): see ApiPackage."""

if TYPE_CHECKING:
    from study.api import RunResult, cells, compare, curves, load, report, rm, runs
    from study.errors import StudyError


class ApiPackage(types.ModuleType):
    """The module type of the subpackages named like an API function: calling the package calls the
    function, `study.run(...)` is `study.api.run(...)`. A package and a function cannot otherwise share
    the name: importing `study.run.runner` binds the attribute `study.run` to the package."""

    def _function(self) -> Any:
        return getattr(importlib.import_module("study.api"), self.__name__.rsplit(".", 1)[-1])

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._function()(*args, **kwargs)

    @property
    def __signature__(self) -> inspect.Signature:  # help() and notebooks show the function's parameters
        return inspect.signature(self._function())


def __getattr__(name: str) -> Any:
    """Load an API name on first use (PEP 562), so that `import study` stays instant."""
    if name in PACKAGE_FUNCTIONS:  # the subpackage, itself callable (ApiPackage)
        return importlib.import_module(f"study.{name}")
    if name == "StudyError":
        from study.errors import StudyError

        return StudyError
    if name in __all__:
        return getattr(importlib.import_module("study.api"), name)
    raise AttributeError(f"module 'study' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
