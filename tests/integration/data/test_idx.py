"""`import study.data` in a fresh process imports neither TensorFlow nor Keras."""

from __future__ import annotations

import subprocess
import sys

from tests.support.paths import REPO


def test_import_does_not_pull_in_tensorflow():
    code = "import sys, study.data; bad = {'tensorflow', 'keras'} & set(sys.modules); assert not bad, bad"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
