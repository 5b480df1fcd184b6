"""`study run --dry-run` on the course studies: the real run's checks (data sizes included), each cell
with its non-default settings (inert ones left out), nothing written."""

from __future__ import annotations

from pathlib import Path

import pytest

from study import cli
from study.check.dry_run import non_default_settings
from study.spec.studyfile import load_study

ROOT = Path(__file__).resolve().parents[2]
COURSE_STUDIES = sorted((ROOT / "configs").glob("*.yaml"))


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
    if load_study(path).spec.search is not None:  # a search prints its space (tests/run/test_search.py)
        assert out.startswith("search: ") and "data: mnist" in err
    else:
        assert out.startswith("every cell: ")
        assert "every check of `study run` passed, nothing written" in err and " = " in err
    assert not (tmp_cwd / "mlruns").exists()  # nothing written


def test_cells_show_their_settings_and_not_the_inert_ones(tmp_cwd, mnist_dir, capsys):
    assert cli.main(["run", str(ROOT / "configs" / "vanishing_gradient.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    first = out.index(next(line for line in out if line.endswith("sigmoid · gauss(0.01) · seed 0")))
    assert "model.activation=sigmoid" in out[first + 1] and "model.initializer=gauss" in out[first + 1]
    he = out.index(next(line for line in out if line.endswith("relu · he · seed 0")))
    assert "model.activation=relu" in out[he + 1] and "init_std" not in out[he + 1]


def test_inert_settings_are_left_out(write_study):
    path = write_study(
        "study: s\nbase: {optimizer: {name: adam, rho: 0.5}, model: {initializer: he, init_std: 0.5}}\n"
        "grid: {model.activation: [relu]}\n"
    )
    settings = load_study(path).base
    shown = non_default_settings(settings)
    assert shown == {"optimizer.name": "adam"}  # rho is RMSprop's, init_std gauss's


def test_a_dry_run_refuses_what_the_run_refuses(write_study, tmp_cwd, mnist_dir, capsys):
    path = write_study(
        "study: big\nbase: {data: {train_size: 70000}, train: {iterations: 10, eval_every: 10}}\n"
        "grid: {model.activation: [relu]}\n"
    )
    assert cli.main(["run", str(path), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "data.train_size: 70000 but mnist in" in err and "has only 60000 train samples" in err
    assert err.count("\n") == 1 and not (tmp_cwd / "mlruns").exists()
