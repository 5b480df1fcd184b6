"""`expect:` in a study file: strict selectors before anything runs. Met / not met after a run, exit code
1 on a miss: tests/integration/check/test_expect.py."""

from __future__ import annotations

import pytest

from study.cli import main
from tests.support.studies import SMOKE, with_expect


@pytest.mark.parametrize(
    "expect, message",
    [
        (
            "  - {cells: {activaton: relu}, final_test_acc: [0.5, 1]}",
            "expect[0].cells: unknown axis 'activaton' (valid: model.activation, activation, model.initializer, initializer)",
        ),
        (
            "  - {cells: {activation: tanh}, final_test_acc: [0.5, 1]}",
            "expect[0].cells.activation: no cell has 'tanh' (valid: sigmoid, relu)",
        ),
        (
            "  - {cells: {activation: relu}}",
            "expect.0: an expectation needs a range for at least one of final_test_acc, best_test_acc, final_train_acc, "
            "final_test_loss",
        ),
        ("  - {final_test_acc: [0.9, 0.5]}", "expect.0: final_test_acc: [0.9, 0.5] is empty: write [low, high]"),
        ("  - {final_test_acc: [0.5]}", "expect.0.final_test_acc: [0.5]: List should have at least 2 items"),
        (
            "  - {final_test_acc: [0.5, 0.9], finall_test_acc: [0, 1]}",
            "expect.0.finall_test_acc: unknown key 'finall_test_acc' (valid keys here: cells, final_test_acc, best_test_acc, final_train_acc, final_test_loss, final_val_acc, final_val_loss, best_val_acc, final_test_mae, best_test_mae, final_train_mae, final_test_mse, final_val_mae, best_val_mae, source)",
        ),
    ],
)
def test_bad_expectations_are_refused_before_anything_runs(expect, message, write_study, tmp_cwd, capsys, mnist_dir):
    path = write_study(with_expect(expect).replace("name: mnist,", f"name: mnist, dir: {mnist_dir},"))
    for argv in (["run", str(path), "--quiet"], ["run", str(path), "--dry-run"]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: {path}: ") and message in err[0], err
    assert not (tmp_cwd / "mlruns").exists()


def test_a_list_valued_axis_can_be_selected(write_study):
    """`model.hidden` values are lists: a selector matches them by label or by the list itself."""
    from study.check.expectations import check_expectations
    from study.check.validated_study import load_study
    from study.plan.grid import expand

    text = SMOKE.replace("model.initializer: [gauss, he]", "model.hidden: [[], [16]]")
    study = load_study(write_study(text + "expect:\n  - {cells: {hidden: no hidden}, final_test_acc: [0, 1]}\n"))
    check_expectations(study, expand(study))
    study = load_study(write_study(text + "expect:\n  - {cells: {hidden: [16]}, final_test_acc: [0, 1]}\n", "b.yaml"))
    check_expectations(study, expand(study))
