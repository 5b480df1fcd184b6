"""A config hash is the same in another Python process (hash randomisation does not reach it)."""

from __future__ import annotations

import os
import subprocess
import sys

from study.check.validated_study import load_study
from study.plan.grid import expand
from tests.support.studies import TWO_AXES

# --- hashes ------------------------------------------------------------------------------------


def test_hash_is_stable_across_processes(write_study):
    path = write_study(TWO_AXES)
    here = [c.config_hash for c in expand(load_study(path))]
    code = (
        "import sys; from study.check.validated_study import load_study; from study.plan.grid import expand; "
        "print(' '.join(c.config_hash for c in expand(load_study(sys.argv[1]))))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, env=env, check=True)
    assert out.stdout.split() == here
