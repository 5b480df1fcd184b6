"""What every source returns: `Raw` (the full data as read) and `Dataset` (ready for Keras), plus
`DatasetInfo`, the small summary that the store logs (name, source, digest, kind, sizes, shapes)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from study.data.standardize import Standardization

KERAS_SOURCE = "keras.datasets"
IDX_NUM_CLASSES = 10


@dataclass(frozen=True)
class DatasetInfo:
    """A dataset's identity and shape, without its arrays (for tags, MLflow dataset inputs, reports)."""

    name: str
    source: str  # a directory, a file, or "keras.datasets"
    digest: str  # of the full data as read, before subsets and splits
    kind: str  # idx, cifar, keras, npz, csv or images
    targets: str  # classes or real
    num_classes: int  # 0 for real targets
    sizes: dict[str, int]  # split -> samples (train, validation when held out, test)
    input_shape: tuple[int, ...]  # one sample
    target_shape: tuple[int, ...]  # one target: () for a class or a single real value
    standardization: dict[str, Any] | None = None  # data.standardize: the training split's per-feature mean, std


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset ready for Keras: float32 inputs, int32 classes or float32 targets, and their origin."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    digest: str
    source: str
    kind: str = "idx"
    targets: str = "classes"
    num_classes: int = IDX_NUM_CLASSES  # 0 for real targets
    x_val: np.ndarray | None = None  # the validation split (data.validation), held out of x_train
    y_val: np.ndarray | None = None
    class_names: tuple[str, ...] = field(default=())
    standardization: Standardization | None = None  # data.standardize: the statistics every split was scaled by

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample, for a model's Input layer."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_outputs(self) -> int:
        """Units of the output layer: one per class, or one per real target."""
        if self.targets == "classes":
            return self.num_classes
        return int(np.prod(self.y_train.shape[1:], dtype=np.int64))

    @property
    def info(self) -> DatasetInfo:
        """The dataset without its arrays."""
        sizes = {"train": len(self.y_train)}
        if self.y_val is not None:
            sizes["validation"] = len(self.y_val)
        sizes["test"] = len(self.y_test)
        return DatasetInfo(
            self.name,
            self.source,
            self.digest,
            self.kind,
            self.targets,
            self.num_classes,
            sizes,
            self.input_shape,
            tuple(self.y_train.shape[1:]),
            None if self.standardization is None else self.standardization.record(),
        )


@dataclass(frozen=True, eq=False)
class Raw:
    """The full data as a source read it (before subsets, splits and scaling), with its digest.

    `x_*` are uint8 (scaled by 1/255 later) or any real dtype (cast to float32); `x_test` is None
    when the test set is to be held out of the training data (data.test_split). `train_where` /
    `test_where` name the file (or part of one) for error messages.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray | None
    y_test: np.ndarray | None
    digest: str
    source: str
    kind: str
    train_where: str
    test_where: str
    num_classes: int = 0  # 0: inferred from the labels (or real targets)
    class_names: tuple[str, ...] = ()
    features: tuple[str, ...] = ()  # the feature columns' names (a CSV's header), where the source has them
