"""A cell's Keras save parked beside a SQLite store until the study's end decides whether it is kept
(study/store/parked.py): the round trip, the folder's place, an interrupted park, the clean-up."""

from __future__ import annotations

import os

import numpy as np
import pytest

from study.engine.records import SavedKeras
from study.store.parked import META_FILE, PARKED_DIR, discard_parked, park, parked_path, parking, unpark


def keras_save(tmp_path, code: dict[str, str] | None = None) -> SavedKeras:
    """A stand-in for Keras's save: a file alone in a folder of its own, as `save_keras` leaves it."""
    folder = tmp_path / "study-keras-1-x"
    folder.mkdir()
    (folder / "model.keras").write_bytes(b"weights")
    example = np.arange(6, dtype=np.float32).reshape(2, 3)
    return SavedKeras(str(folder / "model.keras"), "3.0", "tensorflow", example, 10, code or {}, ("mymod",))


def test_a_parked_save_comes_back_as_package_takes_it(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    source = tmp_path / "models.py"
    source.write_text("def build(): ...\n")
    saved = keras_save(tmp_path, {"models.py": str(source)})
    park(uri, "run1", saved, 50)
    assert not os.path.exists(os.path.dirname(saved.path))  # moved, not copied
    assert parked_path(uri, "run1") == tmp_path / "mlruns" / PARKED_DIR / "run1"
    source.write_text("edited later\n")
    back, step = unpark(uri, "run1")
    assert step == 50 and back.num_outputs == 10 and back.modules == ("mymod",) and back.keras_version == "3.0"
    assert open(back.path, "rb").read() == b"weights"
    assert np.array_equal(back.example, saved.example) and back.example.dtype == np.float32
    assert open(back.code["models.py"]).read() == "def build(): ...\n"  # the code as it was when the cell trained
    assert parked_path(uri, "run1") is None and unpark(uri, "run1") is None  # taken once


def test_only_a_sqlite_store_parks(tmp_path):
    assert parking("http://localhost:5000") is None
    with pytest.raises(ValueError, match="parked only beside a SQLite store"):
        park("http://localhost:5000", "run1", keras_save(tmp_path), 1)


def test_an_interrupted_park_is_not_used_and_discarding_removes_the_folders(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    park(uri, "run1", keras_save(tmp_path), 1)
    (parking(uri) / "run1" / META_FILE).unlink()  # killed before its metadata file was written
    assert parked_path(uri, "run1") is None and unpark(uri, "run1") is None
    discard_parked(uri, ["run1", "never-parked"])
    assert list(parking(uri).iterdir()) == []
