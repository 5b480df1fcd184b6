"""A `model.builder` is built once before anything is written: a builder that raises, returns no model, or
whose model does not fit the task is refused in one line (exit 2, no store), and `--dry-run` prints each
distinct structure's parameter count."""

from __future__ import annotations

import re
import sys

import pytest

from study import cli
from tests.support.paths import REPO

BAD_BUILDERS = """\
import keras


def raises(args, input_shape, outputs):
    raise ValueError("depth must be even")


def not_a_model(args, input_shape, outputs):
    return keras.layers.Dense(outputs)


def three_classes(args, input_shape, outputs):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(3, activation="softmax")])


def logits(args, input_shape, outputs):
    return keras.Sequential([keras.Input(input_shape), keras.layers.Dense(outputs)])


def images_only(args, input_shape, outputs):
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(inputs))
    return keras.Model(inputs, keras.layers.Dense(outputs, activation="softmax")(x))


class NotACallback:
    pass


class Fussy(keras.callbacks.Callback):
    def __init__(self, patience):
        super().__init__()


def two_outputs(args, input_shape, outputs):
    inputs = keras.Input(input_shape)
    probs = keras.layers.Dense(outputs, activation="softmax")(inputs)
    return keras.Model(inputs, [probs, probs])
"""

STUDY = """\
study: bad_builder
base:
  data: {name: mnist, train_size: 100, test_size: 50}
  model: {builder: "bad_models.py:%s"}
  train: {iterations: 10, batch_size: 10, eval_every: 5}
grid:
  optimizer.lr: [0.1]
"""


@pytest.fixture(scope="module")
def bad_models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bad")
    (folder / "bad_models.py").write_text(BAD_BUILDERS, encoding="utf-8")
    yield folder
    sys.modules.pop("bad_models", None)


@pytest.mark.parametrize(
    ("function", "why"),
    [
        ("raises", r"calling it raised ValueError: depth must be even \(bad_models\.py, line 5\)"),
        ("not_a_model", r"it returned a Dense, not a keras\.Model"),
        ("three_classes", r"its model's output has shape \(3,\) per example; this task needs \(10,\)"),
        ("logits", r"its model's outputs are not class probabilities .*end it in a softmax"),
        ("images_only", r"its model cannot take a \(784,\) input: "),
        ("two_outputs", r"its model returns 2 outputs; the study trains one output of 10 units"),
        ("missing", r"bad_models has no 'missing'"),
    ],
)
def test_a_bad_builder_is_refused_in_one_line_before_anything_is_written(
    bad_models, mnist_dir, capsys, monkeypatch, function, why
):
    monkeypatch.chdir(bad_models)
    study = bad_models / f"{function}.yaml"
    study.write_text(STUDY % function, encoding="utf-8")
    assert cli.main(["run", str(study)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"error: {study}: model.builder: bad_models.py:{function}: "), err[0]
    assert re.search(why, err[0]), err[0]
    assert not (bad_models / "mlruns").exists()


def test_the_dry_run_prints_each_structures_parameter_count(mnist_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    study = tmp_path / "own.yaml"
    study.write_text(
        STUDY.replace('"bad_models.py:%s"', f'"{REPO}/examples/models.py:residual_mlp", args: {{width: 16}}').replace(
            "optimizer.lr: [0.1]", "model.args.depth: [1, 2]"
        ),
        encoding="utf-8",
    )
    assert cli.main(["run", str(study), "--dry-run"]) == 0
    err = capsys.readouterr().err
    # 784·16+16 stem, 2·(16·16+16) per block, 16·10+10 head
    assert "  depth=1: 13,274 parameters" in err and "  depth=2: 13,818 parameters" in err, err
    assert "2 network structure(s) checked against the data's shape (2 built with Keras" in err


@pytest.mark.parametrize(
    ("callback", "why"),
    [
        ("NotACallback", r"it made a NotACallback, not a keras\.callbacks\.Callback"),
        ("Fussy", r"making it raised TypeError: .*missing 1 required positional argument: 'patience'"),
    ],
)
def test_a_bad_callback_is_refused_in_one_line(bad_models, mnist_dir, capsys, monkeypatch, callback, why):
    monkeypatch.chdir(bad_models)
    study = bad_models / f"{callback}.yaml"
    study.write_text(
        f"""study: bad_callback
base:
  data: {{name: mnist, train_size: 100, test_size: 50}}
  train: {{iterations: 10, batch_size: 10, eval_every: 5, callbacks: ["bad_models.py:{callback}"]}}
grid:
  optimizer.lr: [0.1]
""",
        encoding="utf-8",
    )
    assert cli.main(["run", str(study)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {study}: train.callbacks: bad_models.py:{callback}: "), err
    assert re.search(why, err[0]), err[0]
    assert not (bad_models / "mlruns").exists()
