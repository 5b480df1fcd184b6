"""A net built by the user's own function (`model.builder`): called, checked against the task, and re-drawn
at each cell's seed.

The builder is called as `builder(args, input_shape, outputs)` and returns a `keras.Model` (Sequential,
Functional or subclassed). Its initial weights are what its own layers draw: the call runs with Python's
and NumPy's generators seeded from the cell's seed (Keras's unseeded initialisers take their seed from
Python's), so every seed is its own draw and the same seed draws the same weights in any process.
"""

from __future__ import annotations

import collections
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from study.engine.backend import keras
from study.spec.builder import BuilderError, code_files, exception_text, load, module_name, parse
from study.spec.model import ModelConfig
from study.spec.task import task_of

BUILDER_ATTRIBUTE = "study_builder"  # set on a builder's model: the reference that built it (its code is kept)
_building = threading.Lock()  # one build at a time: the seeded generators and Keras's name counters are global
PROBE_ROWS = 2  # rows of a probe batch: the output's shape and, for classification, that rows sum to one
PROBABILITY_TOLERANCE = 1e-3


@contextmanager
def fresh_names() -> Iterator[None]:
    """Keras's automatic layer names counted from scratch for the block (`dense`, `dense_1`, …), so a model's
    layer names — its diagnostics' metric names — do not depend on what this process built before."""
    from keras.src.backend.common import global_state  # Keras keeps the counters here (keras.src.utils.naming)

    key = "object_name_uids"
    saved = global_state.get_global_attribute(key)
    global_state.set_global_attribute(key, collections.defaultdict(int))
    try:
        yield
    finally:
        global_state.set_global_attribute(key, saved)


@contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Python's and NumPy's global generators seeded for the block, their state restored after it."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def build_own(
    cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int, seed: int = 0, check: bool = True
) -> keras.Model:
    """The builder's model for these args, its weights drawn at `seed`, called once on a probe batch (which
    builds a subclassed model) and checked to fit the task; BuilderError says in words what is wrong (it
    raised, returned no model, the output does not fit). `check=False`: a model already built (with its
    Input) is not called, for its weights alone."""
    if cfg.builder is None:
        raise BuilderError("model.builder is not set")
    builder = load(cfg.builder)
    with _building, seeded(seed), fresh_names():  # an engine built ahead on another thread waits its turn
        try:
            model = builder(dict(cfg.args), tuple(input_shape), outputs)
        except Exception as exc:  # the user's code may raise anything: said in one line, with where
            raise BuilderError(f"calling it raised {exception_text(exc)}") from None
    if not isinstance(model, keras.Model):
        raise BuilderError(f"it returned a {type(model).__name__}, not a keras.Model")
    if check or not model.built:
        check_output(model, cfg, input_shape, outputs)
    setattr(model, BUILDER_ATTRIBUTE, cfg.builder)
    return model


def check_output(model: keras.Model, cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> None:
    """The model's output on a probe batch: (rows, outputs), finite; for classification, class probabilities."""
    probe = np.random.default_rng(0).random((PROBE_ROWS, *input_shape), dtype=np.float32)
    try:
        out = model(probe, training=False)
    except Exception as exc:  # a model that cannot take the data's shape
        raise BuilderError(f"its model cannot take a {tuple(input_shape)} input: {exception_text(exc)}") from None
    if isinstance(out, (list, tuple, dict)):
        raise BuilderError(f"its model returns {len(out)} outputs; the study trains one output of {outputs} units")
    values = np.asarray(out)
    if values.shape != (PROBE_ROWS, outputs):
        raise BuilderError(
            f"its model's output has shape {values.shape[1:]} per example; this task needs ({outputs},) "
            f"({'one probability per class' if task_of(cfg).kind == 'classification' else 'one value per target'})"
        )
    if task_of(cfg).kind == "classification" and not is_probabilities(values):
        raise BuilderError(
            "its model's outputs are not class probabilities (each row >= 0, summing to 1); end it in a softmax "
            "(model.loss is cross_entropy)"
        )


def is_probabilities(values: np.ndarray) -> bool:
    """Whether each row is a probability distribution (a softmax's output)."""
    return bool(np.all(values >= 0) and np.allclose(values.sum(axis=-1), 1.0, atol=PROBABILITY_TOLERANCE, rtol=0.0))


def initial_weights(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int, seed: int) -> list[np.ndarray]:
    """Every weight of the builder's model as it starts at `seed` (a fresh build's), in `model.weights` order."""
    return build_own(cfg, input_shape, outputs, seed, check=False).get_weights()


def own_callbacks(refs: list[str]) -> list[keras.callbacks.Callback]:
    """The user's Keras callbacks (`train.callbacks`), each made with no arguments; BuilderError says why one
    cannot be."""
    out = []
    for ref in refs:
        factory = load(ref)
        try:
            callback = factory()
        except Exception as exc:  # the user's code may raise anything
            raise BuilderError(f"making it raised {exception_text(exc)}") from None
        if not isinstance(callback, keras.callbacks.Callback):
            raise BuilderError(f"it made a {type(callback).__name__}, not a keras.callbacks.Callback")
        out.append(callback)
    return out


def model_code(model: keras.Model) -> tuple[dict[str, str], tuple[str, ...]]:
    """A builder's model's code files ({name relative to its root: file}) and the module to import before
    loading it; nothing for the study's own stacks (or a function object handed to study.run)."""
    ref = getattr(model, BUILDER_ATTRIBUTE, None)
    if ref is None:
        return {}, ()
    files = code_files(ref)
    if not files:
        return {}, ()
    return {name: str(path) for name, path in files.items()}, (module_name(parse(ref)),)


def parameter_count(model: keras.Model) -> int:
    """Trainable and non-trainable parameters, as `model.summary()` counts them."""
    return int(sum(np.prod(w.shape) for w in model.weights))
