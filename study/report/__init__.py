"""The comparison report: context, figures, findings, HTML.

Calling this package writes a report: `study.report("smoke")` is `study.api.report(...)` (ApiPackage).
"""

import sys

from study import ApiPackage

sys.modules[__name__].__class__ = ApiPackage
