"""How `-n 2 --dist loadfile` hands test files to the xdist workers: a file at a time, as xdist does,
with two changes that shorten the run on two cores.

- Files that share a session resource go to one worker as one unit, so the session starts it once:
  one `mlflow server` for the tracking-server tests, one local Ray instance for the Ray tests.
- The slowest tier goes first (system, then integration, then unit; files in collection order within
  a tier), so the many short unit files fill the end instead of one long system file running alone.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling

SYSTEM = "tests/system/execution/"
SHARED = {  # test file -> the unit it runs in (the resource its tests share)
    f"{SYSTEM}test_tracking_server.py": "mlflow server",
    f"{SYSTEM}test_search_server.py": "mlflow server",
    f"{SYSTEM}test_ray_cluster.py": "mlflow server",  # its own two-node cluster, the session's server
    f"{SYSTEM}test_ray_backend.py": "ray",
    f"{SYSTEM}test_search_ray.py": "ray",
}
TIER_ORDER = ("tests/system/", "tests/integration/", "tests/unit/")


def tier_rank(nodeid: str) -> int:
    """0 for the system tier, 1 integration, 2 unit (3: anything else)."""
    return next((i for i, tier in enumerate(TIER_ORDER) if nodeid.startswith(tier)), len(TIER_ORDER))


def slow_tiers_first(items: list[pytest.Item]) -> None:
    """Reorder a worker's collection in place, system tier first; stable, so a file keeps its order. Done in
    every worker alike: xdist hands a worker the indices of tests in its own collection."""
    items.sort(key=lambda item: tier_rank(item.nodeid))


class FileScheduling(LoadScopeScheduling):
    """xdist's load-by-file scheduling, with the files of SHARED as one unit, in collection order."""

    def __init__(self, config: pytest.Config, log=None) -> None:
        super().__init__(config, log)
        config.option.loadscopereorder = False  # xdist's reorder puts the files with the most tests first

    def _split_scope(self, nodeid: str) -> str:
        path = nodeid.split("::", 1)[0]
        return SHARED.get(path, path)
