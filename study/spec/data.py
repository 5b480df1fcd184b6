"""The `data:` section: a keras.datasets name or your own npz / csv / image files, and held-out splits."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, get_args

from pydantic import BeforeValidator, Field, model_validator

from study.spec.strict import OpenUnit, PositiveInt, Strict, as_tuple

# The keras.datasets ones study reads by name (study/data/); user files are read by `data.format`.
DatasetName = Literal["mnist", "fashion_mnist", "cifar10", "cifar100"]
DataFormat = Literal["npz", "csv", "images"]
Targets = Literal["classes", "real"]  # class integers 0..K-1, or real values (regression)
ColorMode = Literal["grayscale", "rgb", "rgba"]

DATASETS: tuple[str, ...] = get_args(DatasetName)
DATA_FORMATS: tuple[str, ...] = get_args(DataFormat)


class HoldoutConfig(Strict):
    """Samples held out of the training data: the first/last `size`, or a seeded random `fraction`."""

    size: PositiveInt | None = None
    """Hold out this many samples, taken from the `take` end."""
    take: Literal["first", "last"] = "last"
    """Which end `size` takes its samples from."""
    fraction: OpenUnit | None = None
    """Hold out this share of the samples, drawn at random with `seed`."""
    seed: Annotated[int, Field(ge=0)] = 0
    """The seed of the `fraction` draw."""

    @model_validator(mode="after")
    def _one_way(self) -> HoldoutConfig:
        if (self.size is None) == (self.fraction is None):
            raise ValueError("give exactly one of `size` (with `take`: first | last) or `fraction` (with `seed`)")
        if self.size is not None and self.seed != 0:
            raise ValueError("`seed` goes with `fraction`; `size` takes the first or last samples (`take`)")
        if self.fraction is not None and self.take != "last":
            raise ValueError("`take` goes with `size`; a `fraction` is drawn at random (`seed`)")
        return self


# DataConfig fields added after the first release: left out of a cell's identity while at their
# default, so the cells of existing studies keep their config hashes (study/plan/grid.py).
DATA_FIELDS_V1 = ("name", "dir", "train_size", "test_size")
# Settings that only one or two formats read.
FORMAT_SETTINGS = {
    "standardize": ("npz", "csv"),
    "arrays": ("npz",),
    "label_column": ("csv",),
    "image_size": ("images",),
    "color_mode": ("images",),
}


class DataConfig(Strict):
    name: str = "mnist"
    """A keras.datasets name (mnist, fashion_mnist, cifar10, cifar100); with `format`, a free name
    (default: the file's stem)."""
    dir: str | None = None
    """Directory of a named dataset's files; unset: $STUDY_DATA_DIR (MNIST family), else a keras.datasets
    download."""
    train_size: PositiveInt | None = None
    """Train on the first N training samples (the course slices x[:N]); unset: all of them."""
    test_size: PositiveInt | None = None
    """Evaluate on the first N test samples; unset: all of them."""
    format: DataFormat | None = None
    """Your own data: an npz file, a csv table or a directory of images in class folders."""
    path: str | None = None
    """The file (npz, csv) or directory (images) holding the training data."""
    test_path: str | None = None
    """csv / images: a second file or directory holding the test data."""
    test_split: HoldoutConfig | None = None
    """csv / images / npz: hold the test set out of `path` instead."""
    validation: HoldoutConfig | None = None
    """Hold a validation set out of the training data (its metrics: val_*)."""
    arrays: Annotated[tuple[str, str, str, str], BeforeValidator(as_tuple)] = (
        "x_train",
        "y_train",
        "x_test",
        "y_test",
    )
    """npz: the names of the four arrays, in the order x_train, y_train, x_test, y_test."""
    label_column: str = "label"
    """csv: the target column; every other column is a numeric feature."""
    targets: Targets = "classes"
    """Labels as class integers 0..K-1 (classes) or real values (real, for regression)."""
    image_size: Annotated[tuple[PositiveInt, PositiveInt], BeforeValidator(as_tuple)] = (
        64,
        64,
    )
    """images: every image is resized to [height, width]."""
    color_mode: ColorMode = "rgb"
    """images: 1, 3 or 4 channels."""
    standardize: bool = False
    """npz / csv feature vectors: scale each feature to mean 0, std 1 with the training split's statistics.
    Not for images or the named datasets: their pixels already share one scale."""

    @model_validator(mode="before")
    @classmethod
    def _default_name(cls, doc: Any) -> Any:
        """A user file's dataset is named after the file unless `name` says otherwise."""
        if isinstance(doc, dict) and doc.get("format") and "name" not in doc and isinstance(doc.get("path"), str):
            stem = PurePosixPath(doc["path"].rstrip("/")).name.split(".", 1)[0]
            return {**doc, "name": stem or str(doc["format"])}
        return doc

    @model_validator(mode="after")
    def _consistent(self) -> DataConfig:
        valid = ", ".join(DATASETS)
        if self.format is None:
            if self.name not in DATASETS:
                raise ValueError(
                    f"name {self.name!r} is not a dataset study knows (valid: {valid}); "
                    f"for your own file set data.format ({', '.join(DATA_FORMATS)}) and data.path"
                )
            for key in ("path", "test_path", "test_split"):
                if getattr(self, key) is not None:
                    raise ValueError(f"{key} is for your own files: set data.format too, or use data.dir with {valid}")
            if self.targets != "classes":
                raise ValueError(f"targets: {self.name} has class labels (valid here: classes)")
        self._format_settings_match()
        if self.format is None:
            return self
        if self.path is None:
            raise ValueError(f"format {self.format} needs data.path (the file or directory to read)")
        if self.dir is not None:
            raise ValueError("dir is for the named datasets; your own files go in data.path (and data.test_path)")
        if self.test_path is not None and self.test_split is not None:
            raise ValueError("give data.test_path or data.test_split, not both")
        if self.format != "npz" and self.test_path is None and self.test_split is None:
            raise ValueError(
                f"format {self.format}: say where the test set is: data.test_path (a second "
                f"{'file' if self.format == 'csv' else 'directory'}) or data.test_split (e.g. {{fraction: 0.2}})"
            )
        if self.format == "npz" and self.test_path is not None:
            raise ValueError("format npz: the test arrays are in data.path (see data.arrays), or use data.test_split")
        if len(set(self.arrays)) != 4:
            raise ValueError(
                f"arrays: {list(self.arrays)} must name four different arrays (x_train, y_train, x_test, y_test)"
            )
        if self.format == "images" and self.targets != "classes":
            raise ValueError("targets: a directory of images has class labels, one per folder (valid here: classes)")
        return self

    def _format_settings_match(self) -> None:
        """A setting of one format, changed from its default, needs that format: no silently ignored keys."""
        defaults = DataConfig.model_fields
        for key, formats in FORMAT_SETTINGS.items():
            if self.format not in formats and getattr(self, key) != defaults[key].default:
                needs = " or ".join(f"data.format: {f}" for f in formats)
                raise ValueError(f"{key} is read only with {needs} (this data is {self.format or self.name})")

    def identity(self) -> dict[str, Any]:
        """The data section of a cell's identity: fields added after the first release only when not at
        their default (the grid then leaves out the locations: dir, path, test_path)."""
        doc, defaults = self.model_dump(mode="json"), DataConfig().model_dump(mode="json")
        for key in DataConfig.model_fields:
            if key not in DATA_FIELDS_V1 and doc[key] == defaults[key]:
                doc.pop(key)
        return doc
