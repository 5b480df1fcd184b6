"""The unit tier's guard stays out of the other tiers: an integration test may start a process."""

from __future__ import annotations

import subprocess
import sys


def test_a_subprocess_runs_outside_the_unit_tier(request):
    assert request.node.get_closest_marker("integration") is not None
    assert request.node.get_closest_marker("unit") is None
    assert subprocess.run([sys.executable, "-c", "print('ran')"], capture_output=True, text=True).stdout == "ran\n"
