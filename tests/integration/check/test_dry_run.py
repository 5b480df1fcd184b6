"""`study run --dry-run` on every course study: the real run's checks (data sizes included), nothing
written. A Keras layer stack's shapes need Keras, hence this tier."""

from __future__ import annotations

import pytest

from study import cli
from study.check.validated_study import load_study
from tests.support.paths import REPO

COURSE_STUDIES = sorted((REPO / "configs").glob("*.yaml"))


# Studies whose data is made by a script or installed separately: without it, the dry run refuses them.
NEEDS_OWN_DATA = {"fashion_mnist.yaml", "regression_table.yaml", "rings.yaml"}


@pytest.mark.parametrize("path", COURSE_STUDIES, ids=lambda p: p.name)
def test_dry_run_of_every_course_study(path, tmp_cwd, mnist_dir, capsys):
    code = cli.main(["run", str(path), "--dry-run"])
    out, err = capsys.readouterr()
    if code == 2 and path.name in NEEDS_OWN_DATA:  # its data is not on this machine: one line saying so
        assert err.startswith("error: ") and "does not exist" in err and err.count("\n") == 1
        pytest.skip(f"{path.name}: its data is not here ({err.strip()})")
    assert code == 0, err
    if (
        load_study(path).spec.search is not None
    ):  # a search prints its space (tests/integration/execution/test_search.py)
        assert out.startswith("search: ") and "data: mnist" in err
    else:
        assert out.startswith("every cell: ")
        assert "every check of `study run` passed, nothing written" in err and " = " in err
    assert not (tmp_cwd / "mlruns").exists()  # nothing written
