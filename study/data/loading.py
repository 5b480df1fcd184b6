"""Loading a dataset: a data setting's full data read once per process, then held out, subset and scaled;
`load_dataset` / `dataset_digest` do the same for a named dataset without a study file (notebooks, reports)."""

from __future__ import annotations

import os

from study.data.dataset import Dataset
from study.data.prepare import prepare
from study.data.sources import raw_for
from study.spec.data import DataConfig


def load(d: DataConfig, flatten: bool = True) -> Dataset:
    """The dataset of a data setting, split, subset and scaled (see study/data/__init__.py)."""
    return prepare(raw_for(d), d, flatten)


def digest_of(d: DataConfig) -> str:
    """Digest of the full data of a setting (cached), to check a worker's data against the driver's."""
    return raw_for(d).digest


def _named(name: str, data_dir, train_size=None, test_size=None) -> DataConfig:
    """A DataConfig for a named dataset without validation, so bad sizes surface as DataError."""
    return DataConfig.model_construct(
        name=name, dir=None if data_dir is None else str(data_dir), train_size=train_size, test_size=test_size
    )


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    train_size: int | None = None,
    test_size: int | None = None,
    flatten: bool = True,
) -> Dataset:
    """Load a named dataset, keep the first train_size/test_size samples, scale and shape for Keras."""
    return load(_named(name, data_dir, train_size, test_size), flatten)


def dataset_digest(name: str, data_dir: str | os.PathLike | None = None) -> str:
    """Digest of a named dataset's full data (cached)."""
    return digest_of(_named(name, data_dir))
