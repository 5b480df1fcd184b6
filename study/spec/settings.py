"""`Settings`: everything one cell needs (the four sections), checked together."""

from __future__ import annotations

from typing import Any

from pydantic import model_validator

from study.spec.data import DataConfig
from study.spec.model import ModelConfig
from study.spec.optimizer import OptimizerConfig
from study.spec.strict import Strict
from study.spec.task import builtin_task_kind, task_of
from study.spec.train import TrainConfig

# Settings added after cells were first tracked: left out of a cell's identity (study/plan/grid.py) while
# at these defaults, so every cell tracked before them keeps its config hash.
LATER_SETTINGS: dict[tuple[str, str], Any] = {
    ("model", "loss"): "cross_entropy",
    ("optimizer", "rule"): "keras",
    ("optimizer", "weight_decay"): None,
    ("optimizer", "clipnorm"): None,
    ("optimizer", "clipvalue"): None,
    ("optimizer", "schedule"): None,
    ("train", "early_stopping"): None,
    ("model", "builder"): None,
    ("model", "args"): {},
    ("train", "callbacks"): [],
    ("model", "task"): None,
    ("train", "metrics"): [],
}


class Settings(Strict):
    """Everything one cell needs: the resolved `base` with the cell's grid values applied."""

    data: DataConfig = DataConfig()
    """Which data a cell trains, validates and is tested on (docs/datasets.md)."""
    model: ModelConfig = ModelConfig()
    """The network: layers, activation, initialiser, batch norm, regularisation."""
    optimizer: OptimizerConfig = OptimizerConfig()
    """The optimiser and its hyper-parameters."""
    train: TrainConfig = TrainConfig()
    """The training loop: iterations, batches, evaluation, diagnostics, numerics."""

    @property
    def graph_code_refs(self) -> list[str]:
        """The references to your own code the engine's graph computes (model.builder, model.loss,
        train.metrics)."""
        model = self.model
        refs = [model.builder] if model.builder is not None else []
        refs += [model.loss] if builtin_task_kind(model.loss) is None else []
        return [*refs, *self.train.metrics]

    @property
    def code_refs(self) -> list[str]:
        """The references to your own code this cell runs (the graph's, and train.callbacks): each one's code
        is part of the cell's identity."""
        return [*self.graph_code_refs, *self.train.callbacks]

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        t = self.train
        if t.eval_every > t.iterations:
            raise ValueError(f"train.eval_every ({t.eval_every}) is larger than train.iterations ({t.iterations})")
        if t.early_stopping is not None:
            metrics = task_of(self).builtin_eval_metrics  # your own metrics say no direction to improve in
            if t.early_stopping.metric not in metrics:
                raise ValueError(
                    f"train.early_stopping.metric: {t.early_stopping.metric!r} is not recorded at eval points "
                    f"of this cell (valid: {', '.join(metrics)})"
                )
        if self.data.train_size is not None and t.batch_size > self.data.train_size:
            raise ValueError(
                f"train.batch_size ({t.batch_size}) is larger than data.train_size ({self.data.train_size})"
            )
        return self
