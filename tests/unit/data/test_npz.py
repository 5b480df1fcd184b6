"""Your own arrays in an .npz archive: tiny archives written by the tests, good and bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from study.data.loading import load
from study.errors import DataError
from study.spec.data import DataConfig


def arrays(seed: int = 0, shape: tuple[int, ...] = (5,), n: int = 12, m: int = 6, classes: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.normal(size=(n, *shape)),
        "y_train": np.arange(n) % classes,
        "x_test": rng.normal(size=(m, *shape)),
        "y_test": np.arange(m) % classes,
    }


def save(path: Path, **named) -> Path:
    np.savez(path, **named)
    return path


def npz(path: Path, **kw) -> DataConfig:
    return DataConfig(format="npz", path=str(path), **kw)


def test_vectors_with_class_labels(tmp_path):
    a = arrays()
    ds = load(npz(save(tmp_path / "mine.npz", **a)))
    assert ds.name == "mine" and ds.kind == "npz" and ds.source == str(tmp_path / "mine.npz")
    assert ds.x_train.shape == (12, 5) and ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    np.testing.assert_array_equal(ds.x_train, a["x_train"].astype(np.float32))  # floats taken as they are
    np.testing.assert_array_equal(ds.y_test, a["y_test"])
    assert ds.num_classes == 3 and ds.num_outputs == 3 and ds.input_shape == (5,)
    info = ds.info
    assert info.sizes == {"train": 12, "test": 6} and info.target_shape == () and info.digest == ds.digest


def test_uint8_images_are_scaled(tmp_path):
    rng = np.random.default_rng(1)
    a = arrays(shape=(8, 8, 3))
    a["x_train"] = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    a["x_test"] = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    ds = load(npz(save(tmp_path / "pics.npz", **a)))
    assert ds.x_train.shape == (12, 8, 8, 3) and ds.input_shape == (8, 8, 3)
    np.testing.assert_array_equal(ds.x_train, (a["x_train"] / 255.0).astype(np.float32))


def test_named_arrays_and_real_targets(tmp_path):
    a = arrays()
    path = save(tmp_path / "r.npz", X=a["x_train"], Y=a["x_train"][:, :2] * 3.5, Xt=a["x_test"], Yt=a["x_test"][:, :2])
    ds = load(npz(path, arrays=["X", "Y", "Xt", "Yt"], targets="real", name="reg"))
    assert ds.name == "reg" and ds.targets == "real" and ds.num_classes == 0 and ds.num_outputs == 2
    assert ds.y_train.dtype == np.float32 and ds.y_train.shape == (12, 2)
    np.testing.assert_allclose(ds.y_train, (a["x_train"][:, :2] * 3.5).astype(np.float32))


def test_digest_is_of_the_arrays_not_the_zip(tmp_path):
    a = arrays()
    plain = load(npz(save(tmp_path / "a.npz", **a))).digest
    np.savez_compressed(tmp_path / "b.npz", **a)
    assert load(npz(tmp_path / "b.npz")).digest == plain
    a["y_train"] = a["y_train"].copy()
    a["y_train"][0] = 2
    assert load(npz(save(tmp_path / "c.npz", **a))).digest != plain


def test_test_split_needs_only_the_training_arrays(tmp_path):
    a = arrays(n=20)
    path = save(tmp_path / "one.npz", x_train=a["x_train"], y_train=a["y_train"])
    ds = load(npz(path, test_split={"size": 5, "take": "last"}))
    np.testing.assert_array_equal(ds.x_test, a["x_train"][15:].astype(np.float32))
    np.testing.assert_array_equal(ds.x_train, a["x_train"][:15].astype(np.float32))


def missing(a: dict, name: str) -> dict:
    return {k: v for k, v in a.items() if k != name}


def changed(a: dict, **arrays_) -> dict:
    return {**a, **arrays_}


A = arrays()
BAD = {
    "missing array": (missing(A, "y_test"), {}, "no array 'y_test' (the archive holds x_train, y_train, x_test)"),
    "mismatched lengths": (
        changed(A, y_train=A["y_train"][:-2]),
        {},
        "'x_train' has 12 samples but array 'y_train' has 10",
    ),
    "x is 1-D": (
        changed(A, x_train=np.zeros(12)),
        {},
        "array 'x_train' has shape (12,); expected (samples, features…)",
    ),
    "test shape differs": (changed(A, x_test=np.zeros((6, 4))), {}, "array 'x_test' has samples of shape (4,) but"),
    "text inputs": (
        changed(A, x_train=np.array([["a"] * 5] * 12)),
        {},
        "array 'x_train' has dtype <U1, expected numbers",
    ),
    "NaN input": (changed(A, x_test=np.full((6, 5), np.nan)), {}, "array 'x_test' sample 0 holds NaN"),
    "negative label": (changed(A, y_train=-(np.arange(12) % 3)), {}, "array 'y_train' label -1 at index 1 is negative"),
    "non-integer label": (
        changed(A, y_train=np.linspace(0, 2, 12)),
        {},
        "is not a class integer (10 such values); set data.targets: real",
    ),
    "test label out of range": (
        changed(A, y_test=np.array([0, 1, 2, 3, 0, 1])),
        {},
        "test label 3 at index 3 is not among the training labels (0..2; 1 such labels)",
    ),
    "test label of a class absent from training": (
        changed(A, y_train=np.arange(12) % 3 * 2, y_test=np.array([0, 2, 4, 1, 0, 2])),
        {},
        "test label 1 at index 3 is not among the training labels (0, 2, 4; 1 such labels)",
    ),
    "2-D class labels": (changed(A, y_train=np.zeros((12, 2))), {}, "class labels are one integer per sample"),
    "one class": (changed(A, y_train=np.zeros(12, dtype=int)), {}, "a classifier needs at least two classes"),
    "one class, not 0": (
        changed(A, y_train=np.full(12, 3), y_test=np.full(6, 3)),
        {},
        "every training label is 3; a classifier needs at least two classes",
    ),
    "infinite target": (
        changed(A, y_train=np.r_[np.ones(11), np.inf]),
        {"targets": "real"},
        "'y_train' at index 11 is NaN or infinite",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_archives_are_one_line_naming_the_file(tmp_path, case):
    named, settings, needle = BAD[case]
    path = save(tmp_path / "bad.npz", **named)
    with pytest.raises(DataError) as exc:
        load(npz(path, **settings))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith(f"{path}: ") and needle in msg, msg


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, **changed(A, y_train=np.array([{"a": 1}] * 12, dtype=object)))
    with pytest.raises(DataError, match="object \\(pickled\\) arrays"):
        load(npz(path))


def test_not_an_archive(tmp_path):
    npy = tmp_path / "one.npy"
    np.save(npy, np.zeros(3))
    with pytest.raises(DataError, match="a single .npy array, not an .npz archive"):
        load(npz(npy))
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"PK\x03\x04 definitely not a zip")
    with pytest.raises(DataError, match=f"{junk}: not a readable .npz archive"):
        load(npz(junk))
    with pytest.raises(DataError, match="does not exist \\(data.path\\)"):
        load(npz(tmp_path / "nope.npz"))


def lying_archive(path: Path, shape: tuple[int, ...], body: int, version: tuple[int, int] = (1, 0)) -> Path:
    """An archive whose x_train header declares `shape` float32 values over `body` bytes of data."""
    import io
    import zipfile

    header = io.BytesIO()
    write = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    write(header, {"descr": "<f4", "fortran_order": False, "shape": shape})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("x_train.npy", header.getvalue() + bytes(body))
        for name, value in arrays().items():
            if name != "x_train":
                buffer = io.BytesIO()
                np.save(buffer, value)
                archive.writestr(f"{name}.npy", buffer.getvalue())
    return path


@pytest.mark.parametrize(
    ("shape", "body", "version"),
    [((10**10, 10), 1000, (1, 0)), ((12, 5), 12 * 5 * 4 - 1, (1, 0)), ((2**40,), 64, (2, 0))],
)
def test_a_header_that_declares_more_than_the_archive_holds_is_refused_before_allocating(
    tmp_path, shape, body, version
):
    with pytest.raises(DataError) as refused:
        load(npz(lying_archive(tmp_path / "lie.npz", shape, body, version)))
    (line,) = str(refused.value).splitlines()
    declared = int(np.prod(shape, dtype=np.int64)) * 4
    assert line.startswith(f"{tmp_path / 'lie.npz'}: array 'x_train': its header declares ")
    assert f"= {declared:,} bytes, but the archive holds {body:,}" in line


def test_a_header_that_matches_its_data_is_read(tmp_path):
    assert load(npz(lying_archive(tmp_path / "true.npz", (12, 5), 12 * 5 * 4))).x_train.shape == (12, 5)
