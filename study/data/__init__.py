"""Datasets for study: the keras.datasets ones by name, and your own files by format.

`load(data_config)` returns a `Dataset`: float32 inputs (uint8 pixels scaled by 1/255), int32
class labels or float32 real targets, the train / (validation) / test splits, and where the data
came from (`name`, `source`, `digest`, `kind`; `Dataset.info` without the arrays). Sources, one
module each, read the full data once per process (sources.py caches it):

- ``mnist``, ``fashion_mnist``: the four IDX files (idx.py; or keras's ``mnist.npz``), from ``data.dir``, then
  ``$STUDY_DATA_DIR``, then ``keras.datasets`` (downloads where the network allows); inputs flat
  (N, 784) as the course's dense nets take them (a convolution reshapes them to 28×28×1);
- ``cifar10``, ``cifar100``: the published python pickles, extracted or as the tarball
  (keras_formats.py), from ``data.dir``, else ``keras.datasets``; inputs N×32×32×3;
- ``data.format: npz | csv | images``: your own arrays (npz.py), table (tables.py) or directory of
  images in class folders (images.py), at ``data.path``.

Then prepare.py holds out the test set (``data.test_split``, one-file sources) and the validation
set (``data.validation``; split.py), takes the first ``train_size`` / ``test_size`` samples and
scales. The digest (digest.py) identifies the full data as read, never a subset: it goes into
every cell's run, and a cell refuses data whose digest differs from the driver's. Every problem
with a file raises `study.errors.DataError` with one line naming the file and what is wrong.
docs/datasets.md describes every source, its settings and the published formats.

Import each name from the module that defines it (`study.data.loading.load`,
`study.data.dataset.Dataset`, …): the modules of this package never import from the package itself.
"""

from __future__ import annotations

# For callers outside the package only (no module of study/data imports from here).
from study.data.dataset import KERAS_SOURCE, Dataset, DatasetInfo, Raw
from study.data.idx import DATA_DIR_ENV, FILES, resolve_data_dir
from study.data.loading import dataset_digest, digest_of, load, load_dataset
from study.data.shape import DataShape, data_shape
from study.data.sources import check_name, clear_cache
from study.spec.data import DATASETS

__all__ = [
    "DATASETS",
    "DATA_DIR_ENV",
    "DataShape",
    "FILES",
    "KERAS_SOURCE",
    "Dataset",
    "DatasetInfo",
    "Raw",
    "check_name",
    "clear_cache",
    "data_shape",
    "dataset_digest",
    "digest_of",
    "load",
    "load_dataset",
    "resolve_data_dir",
]
