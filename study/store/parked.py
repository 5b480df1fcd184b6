"""`tracking.keep_model: best` on a SQLite store: each cell's Keras save is parked in a folder beside the store
instead of being packaged and uploaded as an MLflow model (~0.3 s a cell); the parent packages only the best
cell's at the study's end, and removes the rest.

A parked save is on disk before its run ends FINISHED, so a study killed with -9 loses no model: the next
`study run` of the study finds its best run's save here and packages it then.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np

from study.engine.records import KERAS_TEMP_PREFIX, SavedKeras
from study.store.connect import sqlite_path

PARKED_DIR = "parked-models"  # beside a SQLite store: one folder per run whose model waits for the best to be known
EXAMPLE_FILE, META_FILE, CODE_FOLDER = "example.npy", "saved.json", "code"


def parking(uri: str) -> Path | None:
    """The folder a store's parked saves go in, or None where saves are not parked (a tracking server:
    its workers may not share this machine's disk)."""
    path = sqlite_path(uri)
    return None if path is None else path.parent / PARKED_DIR


def parked_path(uri: str, run_id: str) -> Path | None:
    """The run's parked save, if there is one."""
    folder = parking(uri)
    found = None if folder is None else folder / run_id
    return found if found is not None and (found / META_FILE).is_file() else None


def park(uri: str, run_id: str, saved: SavedKeras, step: int) -> None:
    """Move a cell's Keras save (and a builder's code files, copied) into the run's parked folder; the
    metadata file is written last, so a folder without it is an interrupted park and is not used."""
    folder = parking(uri)
    if folder is None:
        raise ValueError(f"{uri}: models are parked only beside a SQLite store")
    target = folder / run_id
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    keras_file = target / Path(saved.path).name
    shutil.move(saved.path, keras_file)
    shutil.rmtree(Path(saved.path).parent, ignore_errors=True)
    np.save(target / EXAMPLE_FILE, saved.example)
    for name, source in saved.code.items():  # the code as it was when the cell trained
        copy = target / CODE_FOLDER / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, copy)
    meta = {k: v for k, v in asdict(saved).items() if k != "example"}
    meta.update(path=keras_file.name, code=sorted(saved.code), step=step)
    (target / META_FILE).write_text(json.dumps(meta), encoding="utf-8")


def unpark(uri: str, run_id: str) -> tuple[SavedKeras, int] | None:
    """The run's parked save as `package` takes it (its Keras file moved to a temporary folder of its own)
    and the iteration it was saved at, or None; the parked folder is removed."""
    found = parked_path(uri, run_id)
    if found is None:
        return None
    meta = json.loads((found / META_FILE).read_text(encoding="utf-8"))
    step = meta.pop("step")
    own = Path(tempfile.mkdtemp(prefix=f"{KERAS_TEMP_PREFIX}{os.getpid()}-"))  # remove_orphans' name
    shutil.move(found / meta["path"], own / meta["path"])
    if meta["code"]:
        shutil.move(found / CODE_FOLDER, own / CODE_FOLDER)
    saved = SavedKeras(
        **{
            **meta,
            "path": str(own / meta["path"]),
            "example": np.load(found / EXAMPLE_FILE),
            "code": {name: str(own / CODE_FOLDER / name) for name in meta["code"]},
            "modules": tuple(meta["modules"]),
        }
    )
    shutil.rmtree(found, ignore_errors=True)
    return saved, step


def log_parked(client, uri: str, run_id: str) -> str | None:
    """Package and upload the run's parked save as its model (`models.log_saved`); its `models:/` URI, or
    None when the run has no parked save."""
    from study.store.models import log_saved, package

    found = unpark(uri, run_id)
    if found is None:
        return None
    saved, step = found
    return log_saved(client, run_id, package(saved), step)


def discard_parked(uri: str, run_ids: list[str]) -> None:
    """Remove the parked saves of runs whose model is not kept."""
    folder = parking(uri)
    if folder is not None:
        for run_id in run_ids:
            shutil.rmtree(folder / run_id, ignore_errors=True)


def sweep_parked(client, uri: str) -> list[str]:
    """Remove the parked saves of runs that ended FAILED or KILLED after parking (a store fault while the
    run was being closed), or were deleted; a RUNNING or FINISHED run's save stays. Returns the runs swept."""
    folder = parking(uri)
    swept = []
    for entry in sorted(folder.iterdir()) if folder is not None and folder.is_dir() else []:
        try:
            status = client.get_run(entry.name).info.status
        except Exception:  # noqa: BLE001 - no such run (deleted): nothing will ask for its model
            status = None
        if status not in ("RUNNING", "FINISHED"):
            shutil.rmtree(entry, ignore_errors=True)
            swept.append(entry.name)
    return swept
