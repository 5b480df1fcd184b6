"""The training process's engine cache (study/engine/training_loop.py): a grid cycling through more
structures than the old cache of 4 builds each structure once, and the cache stays bounded by its count,
its engines' bytes and the datasets they hold. Engines are stand-ins here: the policy, not the training."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from study.spec.settings import Settings


def settings(width: int) -> Settings:
    return Settings.model_validate({"model": {"hidden": [width]}, "train": {"iterations": 10}})


def dataset(name: str = "mnist") -> SimpleNamespace:
    rows = np.zeros((4, 2), np.float32)
    return SimpleNamespace(name=name, digest=f"{name}-digest", x_train=rows, y_train=rows[:, 0], y_test=rows[:, 0])


class StandIn:
    """An engine that records its builds; `nbytes` as the real one reports its variables."""

    built: list[int] = []
    nbytes = 1_000

    def __init__(self, settings: Settings, data) -> None:
        from study.engine.graph import data_key

        StandIn.built.append(settings.model.hidden[0])
        self.data_key = data_key(data)

    def reset(self, settings: Settings, seed: int) -> None:
        pass


@pytest.fixture
def cache(monkeypatch):
    from study.engine import training_loop as train

    monkeypatch.setattr(train, "_engines", type(train._engines)())
    monkeypatch.setattr(train, "Engine", StandIn)
    StandIn.built = []
    return train


def test_five_structures_cycled_per_learning_rate_are_built_once_each(cache):
    data = dataset()
    for _lr in range(3):  # the scale study: 5 widths inside each learning rate, 2 seeds each
        for width in (8, 16, 32, 64, 128):
            for seed in (0, 1):
                cache.engine_for(settings(width), seed, data)
    assert StandIn.built == [8, 16, 32, 64, 128]


def test_the_cache_keeps_at_most_its_count_of_engines(cache):
    data = dataset()
    for width in range(1, cache.ENGINE_CACHE_SIZE + 2):
        cache.engine_for(settings(width), 0, data)
    assert [key_width(k) for k in cache._engines] == list(range(2, cache.ENGINE_CACHE_SIZE + 2))  # the newest


def test_large_engines_are_kept_only_while_their_bytes_fit(cache, monkeypatch):
    monkeypatch.setattr(StandIn, "nbytes", cache.ENGINE_CACHE_BYTES // 3 + 1)
    data = dataset()
    for width in (8, 16, 32, 64):
        cache.engine_for(settings(width), 0, data)
    assert [key_width(k) for k in cache._engines] == [16, 32, 64]  # only the newest took it past the budget
    cache.engine_for(settings(8), 0, data)
    assert StandIn.built == [8, 16, 32, 64, 8]


def test_the_cached_engines_hold_no_more_datasets_than_are_kept_resident(cache):
    for k in range(cache.RESIDENT_DATASETS + 1):
        cache.engine_for(settings(8), 0, dataset(f"data{k}"))
    held = {engine.data_key for engine in cache._engines.values()}
    assert len(held) == cache.RESIDENT_DATASETS
    assert ("data0", "data0-digest", 4, 4) not in held  # the least recently used went first


def test_the_engine_in_use_stays_however_large(cache, monkeypatch):
    monkeypatch.setattr(StandIn, "nbytes", 2 * cache.ENGINE_CACHE_BYTES)
    engine = cache.engine_for(settings(8), 0, dataset())
    cache.evict(cache.ENGINE_CACHE_SIZE - 1, dataset())  # as a build ahead does while the cell trains
    assert list(cache._engines.values()) == [engine]


def key_width(key: str) -> int:
    import json

    return json.loads(key)["model"]["hidden"][0]
