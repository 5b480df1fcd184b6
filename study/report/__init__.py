"""The comparison report: context, figures, findings, HTML.

Calling this package writes a report: `study.report("smoke")` is `study.api.report(...)` (ApiPackage).
"""

import sys

from study import ApiPackage  # from the top on purpose: calling this package calls study.api.report, above it

sys.modules[__name__].__class__ = ApiPackage
