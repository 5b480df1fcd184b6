"""The `train:` section: iterations, batches, evaluation, diagnostics, numerics and early stopping."""

from __future__ import annotations

from typing import Annotated, Literal, get_args

from pydantic import Field, field_validator

from study.spec.builder import BuilderError, parse
from study.spec.strict import PositiveInt, Strict
from study.spec.task import RESERVED_METRIC_NAMES, metric_name

# How a cell's floats are computed (study/runtime/numerics.py): `exact` = independent of threads,
# workers and backend; `fast` = every op may split across threads.
NumericsMode = Literal["exact", "fast"]

NUMERICS_MODES: tuple[str, ...] = get_args(NumericsMode)
DEFAULT_NUMERICS: NumericsMode = "exact"


class EarlyStopping(Strict):
    """Stop a cell when `metric` (at eval points) has not improved by `min_delta` for `patience` eval points."""

    metric: str = "test_loss"
    """An eval-point metric of the cell's task (study/spec/task.py), e.g. test_acc, test_mae."""
    patience: PositiveInt = 5
    """Eval points without improvement before the cell stops."""
    min_delta: Annotated[float, Field(ge=0)] = 0.0
    """The smallest change that counts as an improvement."""


MAX_ITERATIONS = (
    100_000_000  # every iteration logs a train_loss point: beyond this the store, not the cell, is the problem
)


class TrainConfig(Strict):
    iterations: Annotated[int, Field(gt=0, le=MAX_ITERATIONS)] = 2000
    """Number of training steps (mini-batches); at most 100,000,000 (each one logs a train_loss point)."""
    batch_size: PositiveInt = 100
    """Images per mini-batch."""
    sampling: Literal["with_replacement", "epoch_shuffle"] = "with_replacement"
    """How batches are drawn: at random with replacement (the course's np.random.choice) or shuffled epochs."""
    eval_every: PositiveInt = 10
    """Iterations between evaluations on the whole test set (the points of the learning curves)."""
    eval_train: Literal["auto", "batch", "full"] = "auto"
    """Training accuracy at eval points: the whole training subset (full), the current mini-batch (batch, as
    the course's vanishing-gradient notebook) or auto = full up to 10,000 images."""
    diagnostics_every: Annotated[int, Field(ge=0)] = 100
    """Per-layer gradient / activation statistics every N iterations, rounded up to whole eval periods;
    0 = off. 100 costs a few percent of a cell's time (docs/diagnostics.md)."""
    steps_per_call: PositiveInt | None = None
    """Steps the engine runs per call; unset: chosen automatically. Does not change results."""
    numerics: NumericsMode = DEFAULT_NUMERICS
    """exact: every op on one thread, results independent of threads, workers and backend; fast: ops may
    split across threads and results may depend on the thread count (docs/reproducibility.md)."""
    early_stopping: EarlyStopping | None = None
    """Stop a cell early on a metric; unset (the course's protocol): always train `iterations`."""
    callbacks: list[str] = []
    """Your own Keras callbacks, `module:Class` or `path/cb.py:Class` (relative to the study file), each made
    with no arguments; they get the engine's eval-point logs and may stop a cell (docs/own_models.md)."""

    metrics: list[str] = []
    """Your own metrics, `module:function` or `path/metrics.py:function` (relative to the study file), each
    `function(y_true, y_pred)` returning per-example values; recorded as train_/test_/val_<function>."""

    @field_validator("metrics")
    @classmethod
    def _metrics(cls, v: list[str]) -> list[str]:
        seen: set[str] = set()
        for ref in v:
            try:
                parse(ref)
            except BuilderError as exc:
                raise ValueError(f"{ref!r}: {exc}") from None
            name = metric_name(ref)
            if name in RESERVED_METRIC_NAMES or name.endswith("_acc"):
                raise ValueError(
                    f"{ref!r}: a metric named {name!r} would read as the task's own "
                    f"({', '.join(RESERVED_METRIC_NAMES)}, *_acc); rename the function"
                )
            if name in seen:
                raise ValueError(f"{ref!r}: two metrics named {name!r}; each is recorded by its function's name")
            seen.add(name)
        return v

    @field_validator("callbacks")
    @classmethod
    def _callbacks(cls, v: list[str]) -> list[str]:
        for ref in v:
            try:
                parse(ref)
            except BuilderError as exc:
                raise ValueError(f"{ref!r}: {exc}") from None
        return v
