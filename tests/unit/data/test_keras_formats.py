"""CIFAR-10 / CIFAR-100 from tiny files the tests write in the published python-pickle format."""

from __future__ import annotations

import io
import os
import pickle
import sys
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest

from study.data.loading import load
from study.errors import DataError
from study.spec.data import DataConfig
from tests.support.data_files import CIFAR_N_TEST, PER_BATCH, batch, cifar10_files, write_folder


def cifar100_files() -> dict[str, dict]:
    return {
        "train": batch(PER_BATCH, 1, b"fine_labels", 100),
        "test": batch(CIFAR_N_TEST, 2, b"fine_labels", 100),
    }


def write_tarball(path: Path, folder: str, files: dict[str, dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, doc in files.items():
            blob = pickle.dumps(doc, protocol=2)
            info = tarfile.TarInfo(f"{folder}/{name}")
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return path


def cifar(name: str, where: Path | None, **kw) -> DataConfig:
    return DataConfig(name=name, dir=None if where is None else str(where), **kw)


def test_cifar10_folder_shapes_channel_order_and_scaling(tmp_path):
    files = cifar10_files()
    write_folder(tmp_path, "cifar-10-batches-py", files)
    ds = load(cifar("cifar10", tmp_path))
    assert ds.x_train.shape == (5 * PER_BATCH, 32, 32, 3) and ds.x_test.shape == (CIFAR_N_TEST, 32, 32, 3)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert ds.num_classes == 10 and ds.kind == "cifar" and ds.input_shape == (32, 32, 3)
    first = files["data_batch_1"][b"data"][0]
    # red plane first, rows top to bottom: pixel (row 1, col 2) is data[32 + 2], its green data[1024 + 34]
    assert ds.x_train[0, 1, 2, 0] == np.float32(first[34] / 255.0)
    assert ds.x_train[0, 1, 2, 1] == np.float32(first[1024 + 34] / 255.0)
    assert ds.x_train[0, 1, 2, 2] == np.float32(first[2048 + 34] / 255.0)
    labels = sum((files[f"data_batch_{i}"][b"labels"] for i in range(1, 6)), [])
    np.testing.assert_array_equal(ds.y_train, labels)  # batches in order 1..5
    np.testing.assert_array_equal(ds.y_test, files["test_batch"][b"labels"])


def test_folder_tarball_and_keras_agree_on_data_and_digest(tmp_path, monkeypatch):
    files = cifar10_files()
    folder = write_folder(tmp_path / "a", "cifar-10-batches-py", files)
    tarball = write_tarball(tmp_path / "b" / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    via_parent = load(cifar("cifar10", tmp_path / "a"))
    via_folder = load(cifar("cifar10", folder))
    via_dir_with_tar = load(cifar("cifar10", tarball.parent))
    via_tar = load(cifar("cifar10", tarball))
    x_train = via_folder.x_train
    for other in (via_parent, via_dir_with_tar, via_tar):
        np.testing.assert_array_equal(other.x_train, x_train)
        np.testing.assert_array_equal(other.y_test, via_folder.y_test)
        assert other.digest == via_folder.digest and len(other.digest) == 16
    as_uint8 = np.rint(x_train * 255).astype(np.uint8)
    test_uint8 = np.rint(via_folder.x_test * 255).astype(np.uint8)
    fake = types.SimpleNamespace(
        load_data=lambda: (
            (as_uint8, via_folder.y_train.reshape(-1, 1).astype(np.uint8)),
            (test_uint8, via_folder.y_test.reshape(-1, 1).astype(np.uint8)),
        )
    )
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(datasets=types.SimpleNamespace(cifar10=fake)))
    from_keras = load(cifar("cifar10", None))
    assert from_keras.source == "keras.datasets" and from_keras.digest == via_folder.digest


def test_cifar100_fine_labels(tmp_path):
    files = cifar100_files()
    write_folder(tmp_path, "cifar-100-python", files)
    ds = load(cifar("cifar100", tmp_path, train_size=4, test_size=2))
    assert ds.num_classes == 100 and ds.x_train.shape == (4, 32, 32, 3) and ds.x_test.shape == (2, 32, 32, 3)
    np.testing.assert_array_equal(ds.y_train, files["train"][b"fine_labels"][:4])


def test_digest_changes_with_one_pixel(tmp_path):
    files = cifar10_files()
    before = load(cifar("cifar10", write_folder(tmp_path / "a", "cifar-10-batches-py", files))).digest
    files["test_batch"][b"data"][0, 0] ^= 1
    after = load(cifar("cifar10", write_folder(tmp_path / "b", "cifar-10-batches-py", files))).digest
    assert before != after


def test_cache_sees_an_edit(tmp_path):
    folder = write_folder(tmp_path, "cifar-10-batches-py", cifar10_files())
    before = load(cifar("cifar10", tmp_path)).digest
    write_folder(tmp_path, "cifar-10-batches-py", cifar10_files(seed=5))
    os.utime(folder / "test_batch", ns=(1, 1))
    assert load(cifar("cifar10", tmp_path)).digest != before


class Boom:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def bad(files: dict, name: str, changes: dict) -> dict:
    doc = dict(files[name])
    doc.update(changes)
    return {**files, name: doc}


def cases() -> dict:
    f = cifar10_files()
    rng = np.random.default_rng(3)
    return {
        "missing batch": ({k: v for k, v in f.items() if k != "data_batch_3"}, "data_batch_3"),
        "not a pickle": ({**f, "data_batch_2": b"not a pickle"}, "data_batch_2: not a CIFAR batch pickle"),
        "code in the pickle": ({**f, "test_batch": pickle.dumps(Boom())}, "refusing to load"),
        "no labels": (bad(f, "data_batch_1", {b"labels": None}), "must be a list of class integers"),
        "wrong width": (
            bad(f, "data_batch_4", {b"data": rng.integers(0, 256, (PER_BATCH, 3000), dtype=np.uint8)}),
            "data_batch_4: 'data' is (6, 3000) uint8, expected N×3072",
        ),
        "label out of range": (
            bad(f, "test_batch", {b"labels": [1, 2, 10, 3]}),
            "test_batch: label 10 at index 2 is outside 0..9",
        ),
        "count mismatch": (bad(f, "data_batch_5", {b"labels": [1, 2]}), "data_batch_5: 6 images but 2 labels"),
    }


@pytest.mark.parametrize("case", list(cases()))
def test_bad_files_are_one_line_naming_the_file(tmp_path, case):
    files, needle = cases()[case]
    write_folder(tmp_path, "cifar-10-batches-py", files)
    if case == "missing batch":  # the folder is not recognised: the parent's listing is the message
        needle = "cifar-10-batches-py/ (data_batch_1"
    with pytest.raises(DataError) as exc:
        load(cifar("cifar10", tmp_path))
    msg = str(exc.value)
    assert "\n" not in msg and needle in msg, msg
    assert str(tmp_path) in msg


def test_tarball_missing_a_member_and_a_broken_tarball(tmp_path):
    files = cifar10_files()
    del files["test_batch"]
    write_tarball(tmp_path / "cifar-10-python.tar.gz", "cifar-10-batches-py", files)
    with pytest.raises(DataError, match=r"no file cifar-10-batches-py/test_batch in the archive"):
        load(cifar("cifar10", tmp_path))
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"\x1f\x8bnot really")
    with pytest.raises(DataError, match="not a readable tar archive"):
        load(cifar("cifar10", tmp_path / "cifar-10-python.tar.gz"))


def test_empty_directory_and_missing_directory(tmp_path):
    with pytest.raises(DataError, match=r"holds neither cifar-100-python/ \(train, test\) nor cifar-100-python.tar.gz"):
        load(cifar("cifar100", tmp_path))
    with pytest.raises(DataError, match="does not exist"):
        load(cifar("cifar100", tmp_path / "nowhere"))


def test_keras_fallback_failure_is_one_line(monkeypatch):
    def offline(**_):
        raise OSError("URL fetch failure on https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz: None")

    fake = types.SimpleNamespace(load_data=offline)
    monkeypatch.setitem(sys.modules, "keras", types.SimpleNamespace(datasets=types.SimpleNamespace(cifar100=fake)))
    with pytest.raises(DataError) as exc:
        load(cifar("cifar100", None))
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("keras.datasets.cifar100.load_data() failed: URL fetch failure")
    assert "set data.dir" in msg and "cifar-100-python.tar.gz" in msg
