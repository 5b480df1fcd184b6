"""A cell's data as MLflow dataset inputs: the training and the test subset, with our digest, so the UI's
Datasets column names what each run was trained and evaluated on."""

from __future__ import annotations

from study.data.dataset import Dataset, DatasetInfo
from study.store.connect import retry
from study.store.contract import DATASET_EVALUATION, DATASET_TRAINING, DATASET_VALIDATION, Tag

KERAS_PREFIX = "keras.datasets"  # a Dataset.source that is Keras's downloader, not a directory


def mlflow_source(data: Dataset | DatasetInfo):
    """Where the data came from as an MLflow DatasetSource: the IDX directory (a local source), or
    Keras's loader (a code source)."""
    import warnings

    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    if data.source.startswith(KERAS_PREFIX):
        return CodeDatasetSource({Tag.SOURCE_NAME: f"{KERAS_PREFIX}.{data.name}"})
    with warnings.catch_warnings():  # MLflow registers its local source twice and says so
        warnings.simplefilter("ignore", UserWarning)
        return resolve_dataset_source(data.source)


def dataset_inputs(data: Dataset | DatasetInfo) -> list:
    """The train and test subsets (and the validation hold-out, when there is one) as `mlflow.data` numpy
    datasets, named with their sizes (`mnist train[:300]`), carrying the dataset's digest, tagged
    `training` / `evaluation` / `validation`. A DatasetInfo (the data lives in the training process)
    gives the same inputs: MLflow reads only the arrays' shapes and dtypes when the digest is given."""
    from mlflow.data.numpy_dataset import from_numpy
    from mlflow.entities import DatasetInput, InputTag

    source = mlflow_source(data)
    out = []
    arrays = split_arrays(data) if isinstance(data, Dataset) else stand_ins(data)
    contexts = {"train": DATASET_TRAINING, "test": DATASET_EVALUATION, "validation": DATASET_VALIDATION}
    splits = [(split, x, y, contexts[split]) for split, (x, y) in arrays.items()]
    for split, x, y, context in splits:
        dataset = from_numpy(x, source, y, name=f"{data.name} {split}[:{len(y)}]", digest=data.digest)
        out.append(DatasetInput(dataset._to_mlflow_entity(), [InputTag(Tag.DATASET_CONTEXT, context)]))
    return out


def split_arrays(data: Dataset) -> dict[str, tuple]:
    """(inputs, targets) of the train and test splits, and of the validation hold-out when there is one."""
    out = {"train": (data.x_train, data.y_train), "test": (data.x_test, data.y_test)}
    if data.x_val is not None and data.y_val is not None:
        out["validation"] = (data.x_val, data.y_val)
    return out


def stand_ins(info: DatasetInfo) -> dict[str, tuple]:
    """Arrays of each split's shapes and dtypes that take no memory (one zero, broadcast): float32 inputs,
    int32 classes or float32 targets, as every Dataset holds them."""
    import numpy as np

    target = np.int32 if info.targets == "classes" else np.float32
    out: dict[str, tuple] = {}
    for split in ("train", "test", "validation"):
        if split in info.sizes:
            n = info.sizes[split]
            out[split] = (
                np.broadcast_to(np.float32(0), (n, *info.input_shape)),
                np.broadcast_to(target(0), (n, *info.target_shape)),
            )
    return out


def log_dataset_inputs(client, run_id: str, data: Dataset | DatasetInfo, attempts: int = 3) -> None:
    """Log the cell's train and test subsets as the run's dataset inputs (runs on the writer thread).

    Two processes logging the same new dataset at once (`--workers`) race in MLflow's look-up-then-insert:
    the loser's transaction is rolled back whole, and its next attempt finds the dataset and links it."""
    inputs = dataset_inputs(data)
    for attempt in range(attempts):
        try:
            retry(client.log_inputs, run_id, inputs)
            return
        except Exception as exc:  # MlflowException wrapping sqlalchemy's IntegrityError
            if attempt == attempts - 1 or "UNIQUE constraint failed: datasets" not in str(exc):
                raise
