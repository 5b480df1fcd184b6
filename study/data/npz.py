"""Your own arrays in a NumPy ``.npz`` archive (``np.savez`` / ``np.savez_compressed``).

The archive holds four arrays, named by ``data.arrays`` (default ``x_train, y_train, x_test,
y_test``) -- two when ``data.test_split`` holds the test set out of the training arrays. Inputs
are numbers of any shape (N, …): vectors, H×W×C images; uint8 inputs are scaled by 1/255, others
taken as they are. Targets are class integers or real values (``data.targets``). Object arrays
(pickles) are refused. The digest hashes the arrays as stored, so re-saving the same arrays keeps it.
"""

from __future__ import annotations

import math
import zipfile
from pathlib import Path

import numpy as np

import study.data.arrays as arrays
from study.data.dataset import Raw
from study.data.digest import arrays_digest
from study.data.reading import MAX_FILE_BYTES, squeezed_message
from study.errors import DataError

ROLES = ("x_train", "y_train", "x_test", "y_test")


def read(path: Path, names: tuple[str, ...], targets: str, need_test: bool) -> Raw:
    """Read, check and hash the archive's arrays (only the training pair when the test set is split off)."""
    wanted = dict(zip(ROLES, names))
    if not need_test:
        wanted = {r: wanted[r] for r in ROLES[:2]}
    loaded = load_arrays(path, wanted)
    where = str(path)
    x_train = arrays.features(where, loaded["x_train"], f"array {wanted['x_train']!r}")
    y_train = loaded["y_train"]
    arrays.same_length(where, x_train, y_train, f"array {wanted['x_train']!r}", f"array {wanted['y_train']!r}")
    x_test = y_test = None
    if need_test:
        x_test = arrays.features(where, loaded["x_test"], f"array {wanted['x_test']!r}")
        y_test = loaded["y_test"]
        arrays.same_length(where, x_test, y_test, f"array {wanted['x_test']!r}", f"array {wanted['y_test']!r}")
        if x_test.shape[1:] != x_train.shape[1:]:
            raise DataError(
                f"{where}: array {wanted['x_test']!r} has samples of shape {x_test.shape[1:]} but "
                f"{wanted['x_train']!r} has {x_train.shape[1:]}"
            )
    digest = arrays_digest((role, loaded[role]) for role in wanted)
    num_classes = 0
    if targets == "classes":
        y_train = arrays.class_labels(where, y_train, f"array {wanted['y_train']!r}")
        if y_test is not None:
            y_test = arrays.class_labels(where, y_test, f"array {wanted['y_test']!r}")
        num_classes = arrays.class_count(where, y_train, where, y_test)
    else:
        y_train = arrays.real_targets(where, y_train, f"array {wanted['y_train']!r}")
        if y_test is not None:
            y_test = arrays.real_targets(where, y_test, f"array {wanted['y_test']!r}")
            if y_test.shape[1:] != y_train.shape[1:]:
                raise DataError(
                    f"{where}: test targets have shape {y_test.shape[1:]}, training targets {y_train.shape[1:]}"
                )
    return Raw(x_train, y_train, x_test, y_test, digest, where, "npz", where, where, num_classes)


def load_arrays(path: Path, wanted: dict[str, str]) -> dict[str, np.ndarray]:
    """The named arrays of the archive, each read into memory; one line for any unreadable archive."""
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: not a readable .npz archive: {_reason(exc)}") from exc
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(f"{path}: a single .npy array, not an .npz archive of named arrays (np.savez writes one)")
    with archive:
        missing = [n for n in wanted.values() if n not in archive.files]
        if missing:
            raise DataError(
                f"{path}: no array {missing[0]!r} (the archive holds {', '.join(archive.files) or 'nothing'}); "
                "name them with data.arrays, or hold the test set out with data.test_split"
            )
        out = {}
        for role, name in wanted.items():
            try:
                check_declared_size(path, archive.zip, name)
                out[role] = archive[name]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise DataError(f"{path}: array {name!r} is unreadable: {_reason(exc)}") from exc
        return out


def check_declared_size(path: Path, archive: zipfile.ZipFile | None, name: str) -> None:
    """Refuse an array whose .npy header declares more bytes than its archive member holds, or than any data
    file may hold, before NumPy allocates that much (a 700-byte archive can declare 400 GB)."""
    if archive is None:  # np.load of a path always holds its archive open
        return
    info = archive.getinfo(f"{name}.npy")
    with archive.open(info) as member:
        version = np.lib.format.read_magic(member)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(member)
        if dtype.hasobject:
            return  # refused when loaded: object arrays are pickles
        declared = math.prod(shape) * dtype.itemsize
        held = info.file_size - member.tell()
    if declared > min(held, MAX_FILE_BYTES):
        raise DataError(
            f"{path}: array {name!r}: its header declares {'×'.join(map(str, shape))} {dtype} = {declared:,} bytes, "
            f"but the archive holds {held:,} (at most {MAX_FILE_BYTES:,})"
        )


def _reason(exc: BaseException) -> str:
    """Why an archive or array could not be read, in the user's terms."""
    if "pickle" in str(exc).lower():
        return "it holds object (pickled) arrays; save plain numeric arrays"
    return squeezed_message(exc)
