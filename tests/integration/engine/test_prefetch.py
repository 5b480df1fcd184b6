"""An engine built ahead in a background thread (study/engine/prefetch.py) trains its cell to exactly the
numbers of one built when the cell starts: every curve and diagnostic, bit for bit, on real MNIST images."""

from __future__ import annotations

from study.engine.callbacks import EngineCallback
from study.spec.settings import Settings
from tests.support.doubles import Recorder


def cell(activation: str, initializer: str, hidden: tuple[int, ...] = (16, 8), diagnostics_every: int = 10) -> Settings:
    """A tiny cell; most of its time is tracing its graph (the diagnostics make that graph larger)."""
    return Settings.model_validate(
        {
            "data": {"train_size": 300, "test_size": 100},
            "model": {"hidden": list(hidden), "activation": activation, "initializer": initializer},
            "optimizer": {"name": "sgd", "lr": 0.1},
            "train": {"iterations": 30, "batch_size": 50, "eval_every": 10, "diagnostics_every": diagnostics_every},
        }
    )


class BuildAhead(EngineCallback):
    """Starts building the next cell's engine when this cell starts training, as the local backend does."""

    def __init__(self, settings: Settings, data) -> None:
        self.settings, self.data = settings, data

    def on_train_begin(self, logs=None) -> None:
        from study.engine.prefetch import prefetch

        prefetch(self.settings, self.data)


def forget_engines() -> None:
    """An empty engine cache and Keras's layer names from 0 again; no gc.collect (train.evict runs two)."""
    from study.engine import training_loop as train
    from study.engine.backend import keras

    for thread in list(train._building.values()):
        thread.join()  # clear_session must not run under a build
    train._engines.clear()
    keras.backend.clear_session(free_memory=False)


def test_an_engine_built_ahead_gives_the_same_histories(mnist_dir):
    from study.data.loading import load_dataset
    from study.engine import training_loop as train

    data = load_dataset("mnist", str(mnist_dir), 300, 100)
    cells = [cell("sigmoid", "xavier"), cell("relu", "he"), cell("relu", "gauss")]
    runs = {}
    for ahead in (False, True):
        forget_engines()
        runs[ahead] = []
        for k, settings in enumerate(cells):
            keep = Recorder()
            extra = [BuildAhead(cells[k + 1], data)] if ahead and k + 1 < len(cells) else []
            train.train_and_evaluate(settings, 0, data, callbacks=[keep, *extra])
            if ahead and k == 0:
                for thread in list(train._building.values()):
                    thread.join()  # a tiny cell trains faster than the next one builds
                assert train.graph_key(cells[1], data) in train._engines  # built while cell 0 trained
            runs[ahead].append(keep)
    for built_then, built_ahead in zip(runs[False], runs[True]):
        assert built_ahead.curves == built_then.curves
        assert built_ahead.diagnostics == built_then.diagnostics and built_then.diagnostics
        assert set(built_ahead.initial) == set(built_then.initial)
        assert all((built_ahead.initial[k] == built_then.initial[k]).all() for k in built_then.initial)


def test_building_ahead_never_drops_the_engine_in_use_and_keeps_the_cache_bounded(mnist_dir, monkeypatch):
    from study.data.loading import load_dataset
    from study.engine import training_loop as train
    from study.engine.prefetch import prefetch

    data = load_dataset("mnist", str(mnist_dir), 300, 100)
    forget_engines()
    # fewer than the 3 structures, so every build ahead past the first evicts one; the cache, not the
    # numbers, is tested here: no diagnostics, so each structure traces a smaller graph
    monkeypatch.setattr(train, "ENGINE_CACHE_SIZE", 2)
    sizes, held = [(16,), (12,), (8,)], []
    for k, hidden in enumerate(sizes):
        settings = cell("relu", "he", hidden, diagnostics_every=0)
        current = train.engine_for(settings, 0, data)
        prefetch(cell("relu", "he", sizes[(k + 1) % len(sizes)], diagnostics_every=0), data)
        assert train._engines[train.graph_key(settings, data)] is current
        for thread in list(train._building.values()):
            thread.join()
        assert len(train._engines) <= train.ENGINE_CACHE_SIZE
        held.append(len(train._engines))
    assert max(held) == train.ENGINE_CACHE_SIZE  # the bound was reached: with 3 structures, later builds evict
