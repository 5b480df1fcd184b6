"""Running studies: one cell, the local / process / Ray backends, the study runner, verify, reproduce.

This package is also the API function `study.run`: calling it runs a study,
`study.run("configs/smoke.yaml", store="mlruns")` is `study.api.run(...)`. A package and a function
cannot otherwise share the name: importing `study.run.runner` binds `study.run` to this package,
so the package itself is made callable (its module class gets a `__call__`).
"""

from __future__ import annotations

import sys
import types
from typing import Any


class _CallablePackage(types.ModuleType):
    """The type of this package's module object: calling it calls study.api.run."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from study.api import run

        return run(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
