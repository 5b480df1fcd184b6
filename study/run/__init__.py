"""Running a study: one cell, the local, process-pool and Ray backends, the study runner, verify and reproduce.

Calling this package runs a study: `study.run("configs/smoke.yaml")` is `study.api.run(...)` (ApiPackage).
"""

import sys

from study import ApiPackage  # from the top on purpose: calling this package calls study.api.run, above it

sys.modules[__name__].__class__ = ApiPackage
