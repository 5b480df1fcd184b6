"""A study's datasets as the driver sees them: loaded here, or described by the training process that
holds them. Light on purpose: the runner checks the data with it before it
imports MLflow, so a file broken past its header is refused at once."""

from __future__ import annotations

import os
import threading
from functools import lru_cache

from study.data.dataset import Dataset, DatasetInfo
from study.data.loading import load
from study.execution.trainer import DataSource, Trainer
from study.plan.grid import Cell
from study.spec.data import DataConfig
from study.spec.document import Study

_loading = threading.Lock()  # a cell and a build ahead (study/engine/prefetch.py) may ask at once


def cell_data(cell: Cell) -> Dataset:
    """The cell's dataset, loaded in this process; cells with the same data settings share one copy."""
    with _loading:
        return dataset_for(cell.settings.data, os.environ.get("STUDY_DATA_DIR"))


@lru_cache(maxsize=4)  # a grid rarely varies the data; four subsets cover it without hoarding memory
def dataset_for(d: DataConfig, env_dir: str | None) -> Dataset:
    """Load and scale one data setting (`env_dir`, $STUDY_DATA_DIR, is part of the cache key)."""
    return load(d)


def data_info(cell: Cell, trainer: Trainer | None) -> Dataset | DatasetInfo:
    """The cell's dataset: loaded here, or as `trainer` loaded it (its description: the arrays stay there)."""
    if trainer is None:
        return cell_data(cell)
    return trainer.dataset(DataSource.of(cell.settings.data))


def dataset_digest(study: Study, cells: list[Cell], trainer: Trainer | None = None) -> str:
    """Load every dataset the grid uses (a file broken past its header: DataError before anything is
    written), here or in the training process that will train the cells; returns the digest(s).
    Everything else was checked before (study.check)."""
    return ",".join(sorted({data_info(cell, trainer).digest for cell in cells}))
