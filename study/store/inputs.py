"""A cell's data as MLflow dataset inputs: the training and the test subset, with our digest, so the UI's
Datasets column names what each run was trained and evaluated on."""

from __future__ import annotations

from study.data import Dataset
from study.store.connect import retry
from study.store.contract import DATASET_EVALUATION, DATASET_TRAINING, DATASET_VALIDATION, Tag

KERAS_PREFIX = "keras.datasets"  # a Dataset.source that is Keras's downloader, not a directory


def mlflow_source(data: Dataset):
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


def dataset_inputs(data: Dataset) -> list:
    """The train and test subsets (and the validation hold-out, when there is one) as `mlflow.data` numpy
    datasets, named with their sizes (`mnist train[:300]`), carrying the dataset's digest, tagged
    `training` / `evaluation` / `validation`."""
    from mlflow.data.numpy_dataset import from_numpy
    from mlflow.entities import DatasetInput, InputTag

    source = mlflow_source(data)
    out = []
    splits = [
        ("train", data.x_train, data.y_train, DATASET_TRAINING),
        ("test", data.x_test, data.y_test, DATASET_EVALUATION),
    ]
    if data.x_val is not None and data.y_val is not None:
        splits.append(("validation", data.x_val, data.y_val, DATASET_VALIDATION))
    for split, x, y, context in splits:
        dataset = from_numpy(x, source, y, name=f"{data.name} {split}[:{len(y)}]", digest=data.digest)
        out.append(DatasetInput(dataset._to_mlflow_entity(), [InputTag(Tag.DATASET_CONTEXT, context)]))
    return out


def log_dataset_inputs(client, run_id: str, data: Dataset, attempts: int = 3) -> None:
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
