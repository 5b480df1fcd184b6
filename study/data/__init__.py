"""Datasets for study: the keras.datasets ones by name, and your own files by format.

`load(data_config)` returns a `Dataset`: float32 inputs (uint8 pixels scaled by 1/255), int32
class labels or float32 real targets, the train / (validation) / test splits, and where the data
came from (`name`, `source`, `digest`, `kind`; `Dataset.info` without the arrays). Sources, one
module each, read the full data once per process:

- ``mnist``, ``fashion_mnist``: the four IDX files (or keras's ``mnist.npz``), from ``data.dir``, then
  ``$STUDY_DATA_DIR``, then ``keras.datasets`` (downloads where the network allows); inputs flat
  (N, 784) as the course's dense nets take them (a convolution reshapes them to 28×28×1);
- ``cifar10``, ``cifar100``: the published python pickles, extracted or as the tarball,
  from ``data.dir``, else ``keras.datasets``; inputs N×32×32×3;
- ``data.format: npz | csv | images``: your own arrays, table or directory of images in class
  folders, at ``data.path``.

Then the test set (``data.test_split``, one-file sources) and the validation set (``data.validation``)
are held out; loading takes the first ``train_size`` / ``test_size`` samples and
scales. The digest identifies the full data as read, never a subset: it goes into
every cell's run, and a cell refuses data whose digest differs from the driver's. Every problem
with a file raises `study.errors.DataError` with one line naming the file and what is wrong.

This file defines and re-exports nothing: import each name from the module that defines it
(`study.data.loading.load`, `study.data.dataset.Dataset`, `study.data.idx.DATA_DIR_ENV`, …), so that
no module of the package imports from the package.
"""
