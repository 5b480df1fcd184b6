"""The engine on a `model.builder`'s own model: Functional, Sequential and subclassed (with a custom layer)
train in-graph; the builder's own initialisers are drawn at each cell's seed, so a cached engine gives the
very numbers of a fresh one; diagnostics cover nested kernels and a Functional model's activations; the
kept model, code included, reloads in a fresh process with mlflow.pyfunc and mlflow.keras."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from study.data.dataset import Dataset
from study.engine.training_loop import _engines, engine_for, train_and_evaluate
from study.spec.settings import Settings
from tests.support.doubles import Recorder
from tests.support.paths import REPO

ROWS, TEST_ROWS, FEATURES, CLASSES = 40, 20, 16, 4

NETS = '''\
import keras


@keras.saving.register_keras_serializable(package="tests")
class Scale(keras.layers.Layer):
    """x * s, one trained scale per feature: a custom layer with a weight of its own."""

    def build(self, input_shape):
        self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="s")

    def call(self, x):
        return x * self.s


@keras.saving.register_keras_serializable(package="tests")
class TinyNet(keras.Model):
    def __init__(self, width, outputs, **kwargs):
        super().__init__(**kwargs)
        self.width, self.outputs_ = width, outputs
        self.hidden = keras.layers.Dense(width, activation="relu")
        self.scale = Scale()
        self.head = keras.layers.Dense(outputs, activation="softmax")

    def call(self, x):
        return self.head(self.scale(self.hidden(x)))

    def get_config(self):
        return {**super().get_config(), "width": self.width, "outputs": self.outputs_}


def subclassed(args, input_shape, outputs):
    return TinyNet(args["width"], outputs)


class StopAtStep(keras.callbacks.Callback):
    """Stops the cell at iteration 3; keeps every log it was handed (a class attribute: the engine makes it)."""

    seen = []

    def on_epoch_end(self, epoch, logs=None):
        StopAtStep.seen.append(dict(logs))
        if logs["step"] >= 3:
            self.model.stop_training = True


def sequential(args, input_shape, outputs):
    return keras.Sequential([
        keras.layers.Dense(args["width"], kernel_initializer="glorot_uniform"),
        keras.layers.Activation("tanh"),
        keras.layers.Dropout(0.2),
        keras.layers.Dense(outputs, activation="softmax"),
    ])
'''


@pytest.fixture(scope="module")
def nets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("nets")
    (folder / "tiny_nets.py").write_text(NETS, encoding="utf-8")
    yield folder
    sys.modules.pop("tiny_nets", None)


def tiny_data() -> Dataset:
    rng = np.random.default_rng(0)
    return Dataset(
        name="tiny",
        x_train=rng.random((ROWS, FEATURES), dtype=np.float32),
        y_train=rng.integers(0, CLASSES, ROWS).astype(np.int32),
        x_test=rng.random((TEST_ROWS, FEATURES), dtype=np.float32),
        y_test=rng.integers(0, CLASSES, TEST_ROWS).astype(np.int32),
        digest="tiny",
        source="test",
    )


def settings(builder: str, **args) -> Settings:
    return Settings.model_validate(
        {
            "model": {"builder": builder, "args": args},
            "optimizer": {"name": "adam", "lr": 0.01},
            "train": {"iterations": 6, "batch_size": 10, "eval_every": 3, "diagnostics_every": 3},
        }
    )


def refs(nets) -> dict[str, str]:
    return {
        "functional": f"{REPO}/examples/models.py:residual_mlp",
        "sequential": f"{nets}/tiny_nets.py:sequential",
        "subclassed": f"{nets}/tiny_nets.py:subclassed",
    }


def trained(cfg: Settings, seed: int, data: Dataset) -> tuple[dict, Recorder]:
    """The summary metrics but the wall time, and every value recorded."""
    recorder = Recorder()
    summary = train_and_evaluate(cfg, seed, data, [recorder])
    return {k: v for k, v in summary.metrics().items() if k != "wall_time_s"}, recorder


@pytest.mark.parametrize("kind", ["functional", "sequential", "subclassed"])
def test_a_cached_engine_gives_a_fresh_engines_numbers_at_every_seed(nets, kind):
    data = tiny_data()
    cfg = settings(refs(nets)[kind], width=8, depth=1)
    _engines.clear()
    fresh, first = trained(cfg, 1, data)
    trained(cfg, 0, data)  # the engine is now cached and has trained another seed
    again, second = trained(cfg, 1, data)
    assert again == fresh and second.curves == first.curves
    other, _ = trained(cfg, 2, data)
    assert other["final_test_loss"] != fresh["final_test_loss"]  # another seed, other initial weights
    assert np.isfinite(fresh["final_test_loss"])


def test_diagnostics_cover_nested_kernels_and_a_functional_models_activations(nets):
    data = tiny_data()
    _, functional = trained(settings(refs(nets)["functional"], width=8, depth=2), 0, data)
    names = {name for name, _ in functional.diagnostics}
    # stem, two residual blocks of two dense layers each, head; the hidden relu before the head
    assert {n for n in names if n.startswith("grad_norm/")} == {
        "grad_norm/stem",
        "grad_norm/dense",
        "grad_norm/dense_1",
        "grad_norm/dense_2",
        "grad_norm/dense_3",
        "grad_norm/head",
    }
    assert "act_mean/act_out" in names and "act_dead/act_out" in names
    _, subclassed = trained(settings(refs(nets)["subclassed"], width=8), 0, data)
    names = {name for name, _ in subclassed.diagnostics}
    assert {n.split("/")[0] for n in names} == {"grad_norm", "grad_norm_bias", "weight_norm", "update_ratio"}


def test_the_step_by_step_reference_matches_the_in_graph_chunks(nets):
    data = tiny_data()
    cfg = settings(refs(nets)["sequential"], width=8)
    _engines.clear()
    chunked, by_chunk = trained(cfg, 3, data)
    _engines.clear()
    stepped = Recorder()
    train_and_evaluate(cfg, 3, data, [stepped], step_by_step=True)
    assert stepped.curves == by_chunk.curves


def test_the_kept_model_reloads_in_a_fresh_process(nets, tmp_path):
    from study.engine.build import save_keras
    from study.store.models import discard, package

    data = tiny_data()
    cfg = settings(refs(nets)["subclassed"], width=8)
    train_and_evaluate(cfg, 0, data)
    engine = engine_for(cfg, 0, data)
    train_and_evaluate(cfg, 0, data)
    expected = np.asarray(engine.model(data.x_test[:5], training=False))
    folder = package(save_keras(engine.model, data.x_test, CLASSES))
    np.save(tmp_path / "x.npy", data.x_test[:5])
    code = textwrap.dedent(
        f"""
        import sys, numpy as np, mlflow.pyfunc, mlflow.keras
        x = np.load({str(tmp_path / "x.npy")!r})
        by_pyfunc = mlflow.pyfunc.load_model({folder!r}).predict(x)
        import tiny_nets  # for mlflow.keras: the module of the custom layers first, as Keras asks
        by_keras = np.asarray(mlflow.keras.load_model({folder!r})(x))
        np.save({str(tmp_path / "out.npy")!r}, np.stack([by_pyfunc, by_keras]))
        print(type(mlflow.keras.load_model({folder!r})).__name__, "tiny_nets" in sys.modules)
        """
    )
    # the fresh process knows only the model's folder: pyfunc puts its own copy of the code on the path
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.split()[-2:] == ["TinyNet", "True"]
    reloaded = np.load(tmp_path / "out.npy")
    np.testing.assert_array_equal(reloaded[0], expected)
    np.testing.assert_array_equal(reloaded[1], expected)
    assert (Path(folder) / "code" / "tiny_nets.py").read_text() == NETS
    discard(folder)


def test_a_keras_callback_by_reference_gets_the_logs_and_stops_the_cell(nets):
    data = tiny_data()
    cfg = settings(refs(nets)["sequential"], width=8)
    cfg = cfg.model_copy(
        update={"train": cfg.train.model_copy(update={"callbacks": [f"{nets}/tiny_nets.py:StopAtStep"]})}
    )
    summary = train_and_evaluate(cfg, 0, data)
    import tiny_nets

    assert [log["step"] for log in tiny_nets.StopAtStep.seen] == [0, 3]
    assert {"train_acc", "test_acc", "test_loss"} <= set(tiny_nets.StopAtStep.seen[0])
    assert summary.stopped_at == 3 and summary.iterations == 3
    again = train_and_evaluate(settings(refs(nets)["sequential"], width=8), 0, data)  # the same engine, no callback
    assert again.stopped_at is None and again.iterations == 6
