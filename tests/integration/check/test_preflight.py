"""The whole-study check before the first run (study/check/preflight.py) on every shipped config, and
that checking shapes in a dry run imports no TensorFlow (in a fresh process)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from study.check.preflight import preflight
from study.check.validated_study import load_study
from study.plan.grid import expand
from tests.support.paths import REPO
from tests.support.studies import other


def test_every_shipped_config_passes(mnist_dir, tmp_path, monkeypatch):
    """Every shipped study, with the data its header says to make (the example tables, written here);
    Fashion-MNIST only where Debian's dataset-fashion-mnist is installed."""
    from examples.make_regression_table import main as make_regression_table
    from examples.make_rings import main as make_rings

    monkeypatch.chdir(tmp_path)  # the example studies read data/… relative to the current directory
    make_rings([])
    make_regression_table([])
    for path in sorted((REPO / "configs").glob("*.yaml")):
        study = load_study(path)
        data_dir = study.base.data.dir
        if data_dir and data_dir.startswith("/usr/share/datasets/") and not Path(data_dir).is_dir():
            continue  # tests/unit/data/test_examples.py says so, skipping with the reason
        if study.spec.search is not None:  # a search checks the corners of its space, as its run does
            from study.plan.space import probe_cells, search_space

            preflight(study, probe_cells(study, search_space(study)))
        else:
            preflight(study, expand(study))


def test_the_dry_run_checks_shapes_without_tensorflow(write_study, mnist_dir):
    code = (
        "import sys; from study import cli; rc = cli.main(sys.argv[1:]); "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, rc)"
    )
    path = write_study(
        other(
            "{type: conv2d, filters: 4, kernel: 3, padding: 1}",
            "{type: avg_pool, pool: 3, stride: 2}",
            "{type: dense, units: 10}",
        )
    )
    out = subprocess.run(
        [sys.executable, "-c", code, "run", str(path), "--dry-run"], capture_output=True, text=True, timeout=120
    )
    assert out.stdout.splitlines()[-1] == "False False 0", out.stdout + out.stderr
    assert "2 network structure(s) checked" in out.stderr and "pure-Python" in out.stderr
