"""`study run --dry-run`: each cell with its non-default settings (inert ones left out), the real run's
refusals, nothing written. Every course study's dry run is in tests/integration/check/test_dry_run.py."""

from __future__ import annotations

from study import cli
from study.check.dry_run import non_default_settings
from study.check.validated_study import load_study
from tests.support.paths import REPO


def test_cells_show_their_settings_and_not_the_inert_ones(tmp_cwd, mnist_dir, capsys):
    assert cli.main(["run", str(REPO / "configs" / "vanishing_gradient.yaml"), "--dry-run"]) == 0
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
