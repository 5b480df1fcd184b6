"""Your own `model.loss` and `train.metrics` are imported and called once on a probe batch before anything is
written: a module that cannot be imported, a name that is no function, a function that raises, does not
return one value per example or (a loss) gives no gradient, is refused in one line with exit 2 by `study run`
and its `--dry-run` alike, and no store is created."""

from __future__ import annotations

import re
import sys

import pytest

from study import cli

BAD_LOSSES = """\
import keras
import tensorflow as tf

NOT_A_FUNCTION = 3


def raises(y_true, y_pred):
    raise ValueError("gamma must be positive")


def mean(y_true, y_pred):
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y_true, y_pred))


def per_class(y_true, y_pred):
    return y_pred


def no_gradient(y_true, y_pred):
    return tf.cast(tf.argmax(y_pred, axis=-1), tf.float32)


def python_branch(y_true, y_pred):
    if tf.reduce_sum(y_pred) > 0:  # a tensor's truth value: fine eagerly, an error in the engine's graph
        return y_pred[:, 0]
    return y_pred[:, 1]
"""

STUDY = """\
study: bad_loss
base:
  data: {name: mnist, train_size: 100, test_size: 50}
  model: {hidden: [8], %s}
  train: {iterations: 10, batch_size: 10, eval_every: 5, %s}
grid:
  optimizer.lr: [0.1]
"""


@pytest.fixture(scope="module")
def bad_losses(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad_losses")
    (folder / "bad_losses.py").write_text(BAD_LOSSES, encoding="utf-8")
    (folder / "broken_losses.py").write_text("import no_such_package_xyz\n", encoding="utf-8")
    yield folder
    for name in ("bad_losses", "broken_losses"):
        sys.modules.pop(name, None)


def loss(ref: str) -> tuple[str, str]:
    return f'loss: "{ref}", task: classification', "metrics: []"


def metric(ref: str) -> tuple[str, str]:
    return "loss: cross_entropy", f'metrics: ["{ref}"]'


@pytest.mark.parametrize(
    ("settings", "why"),
    [
        (
            loss("broken_losses.py:focal"),
            r"model\.loss: broken_losses\.py:focal: importing broken_losses\.py raised "
            r"ModuleNotFoundError: No module named 'no_such_package_xyz' \(broken_losses\.py, line 1\)",
        ),
        (
            loss("bad_losses.py:NOT_A_FUNCTION"),
            r"model\.loss: bad_losses\.py:NOT_A_FUNCTION: .* is a int, not a "
            "function",
        ),
        (
            loss("bad_losses.py:raises"),
            r"model\.loss: bad_losses\.py:raises: calling it on a batch raised "
            r"ValueError: gamma must be positive \(bad_losses\.py, line 8\)",
        ),
        (
            loss("bad_losses.py:mean"),
            r"model\.loss: bad_losses\.py:mean: it returned shape \(\) for a batch of 3 "
            r"examples; it must return one value per example",
        ),
        (loss("bad_losses.py:no_gradient"), r"model\.loss: bad_losses\.py:no_gradient: no gradient flows from it"),
        (metric("bad_losses.py:per_class"), r"train\.metrics: bad_losses\.py:per_class: it returned shape \(3, 10\)"),
        (
            metric("bad_losses.py:python_branch"),
            r"train\.metrics: bad_losses\.py:python_branch: calling it on a "
            r"batch raised .*\(bad_losses\.py, line 24\)",
        ),
        (
            ('loss: "bad_losses.py:mean", task: regression', "metrics: []"),
            r"model\.task: regression needs real "
            r"targets and mnist has class labels",
        ),
    ],
    ids=["import", "not-callable", "raises", "scalar", "no-gradient", "per-class", "graph-only", "wrong-task"],
)
def test_a_bad_loss_or_metric_is_refused_in_one_line_by_the_run_and_the_dry_run(
    bad_losses, mnist_dir, capsys, monkeypatch, settings, why
):
    monkeypatch.chdir(bad_losses)
    study = bad_losses / "bad.yaml"
    study.write_text(STUDY % settings, encoding="utf-8")
    for dry_run in ([], ["--dry-run"]):
        assert cli.main(["run", str(study), *dry_run]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1, err
        assert err[0].startswith(f"error: {study}: "), err[0]
        assert re.search(why, err[0]), err[0]
        assert not (bad_losses / "mlruns").exists()
