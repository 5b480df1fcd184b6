"""Tests for study.data's IDX source (MNIST family): tiny IDX files written into tmp_path, plus the real MNIST when available."""

from __future__ import annotations

import gzip
import hashlib
import os
import struct
import sys
from pathlib import Path

import numpy as np
import pytest

import study.data.reading as reading
from study.data.dataset import Dataset
from study.data.idx import DATA_DIR_ENV, FILES, resolve_data_dir
from study.data.loading import dataset_digest, load_dataset
from study.data.sources import clear_cache
from study.errors import DataError, StudyError
from study.spec.data import DATASETS
from tests.support.data_files import N_TEST, N_TRAIN, encode, idx_images, idx_labels, make_arrays, write_dir

FILE_NAMES = [base for _, _, base in FILES]


@pytest.fixture(autouse=True)
def _isolate(monkeypatch):
    """No ambient STUDY_DATA_DIR and a fresh cache for each test."""
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    clear_cache()
    yield
    clear_cache()


@pytest.fixture
def arrays():
    return make_arrays()


@pytest.fixture
def raw_dir(tmp_path, arrays):
    return write_dir(tmp_path / "raw", encode(arrays), gz=False)


@pytest.fixture
def gz_dir(tmp_path, arrays):
    return write_dir(tmp_path / "gz", encode(arrays), gz=True)


def test_datasets_constant():
    assert DATASETS == ("mnist", "fashion_mnist", "cifar10", "cifar100")


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_shapes_dtypes_scaling_flat(tmp_path, arrays, gz):
    d = write_dir(tmp_path / "d", encode(arrays), gz=gz)
    ds = load_dataset("mnist", d, None, None)
    assert isinstance(ds, Dataset)
    assert ds.name == "mnist" and ds.source == str(d)
    assert ds.x_train.shape == (N_TRAIN, 784) and ds.x_test.shape == (N_TEST, 784)
    assert ds.y_train.shape == (N_TRAIN,) and ds.y_test.shape == (N_TEST,)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32 and ds.y_test.dtype == np.int32
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    expected = (arrays["train-images-idx3-ubyte"].reshape(N_TRAIN, 784) / 255.0).astype(np.float32)
    np.testing.assert_allclose(ds.x_train, expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(ds.y_train, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.input_shape == (784,) and ds.num_classes == 10
    assert len(ds.digest) == 16 and int(ds.digest, 16) >= 0


def test_channels_last(raw_dir, arrays):
    flat = load_dataset("mnist", raw_dir, None, None, flatten=True)
    cnn = load_dataset("mnist", raw_dir, None, None, flatten=False)
    assert cnn.x_train.shape == (N_TRAIN, 28, 28, 1) and cnn.x_test.shape == (N_TEST, 28, 28, 1)
    assert cnn.input_shape == (28, 28, 1)
    np.testing.assert_array_equal(cnn.x_train.reshape(N_TRAIN, 784), flat.x_train)
    np.testing.assert_array_equal(cnn.x_test[..., 0], (arrays["t10k-images-idx3-ubyte"] / 255.0).astype(np.float32))


def test_subsets_are_first_n(raw_dir):
    full = load_dataset("mnist", raw_dir, None, None)
    sub = load_dataset("mnist", raw_dir, train_size=7, test_size=3)
    assert sub.x_train.shape == (7, 784) and sub.x_test.shape == (3, 784)
    np.testing.assert_array_equal(sub.x_train, full.x_train[:7])
    np.testing.assert_array_equal(sub.y_train, full.y_train[:7])
    np.testing.assert_array_equal(sub.x_test, full.x_test[:3])
    np.testing.assert_array_equal(sub.y_test, full.y_test[:3])
    assert sub.digest == full.digest  # identifies the full dataset, not the subset
    exact = load_dataset("mnist", raw_dir, N_TRAIN, N_TEST)
    assert exact.x_train.shape[0] == N_TRAIN


def test_results_do_not_share_memory(raw_dir):
    a = load_dataset("mnist", raw_dir, None, None)
    a.x_train[:] = 5.0
    b = load_dataset("mnist", raw_dir, None, None)
    assert b.x_train.max() <= 1.0


def test_gz_and_raw_agree(raw_dir, gz_dir):
    raw = load_dataset("mnist", raw_dir, None, None)
    gz = load_dataset("mnist", gz_dir, None, None)
    for field in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(raw, field), getattr(gz, field))
    assert raw.digest == gz.digest
    assert dataset_digest("mnist", raw_dir) == dataset_digest("mnist", gz_dir) == raw.digest


def test_digest_is_sha256_of_uncompressed_files(raw_dir, arrays):
    blobs = encode(arrays)
    expected = hashlib.sha256(b"".join(blobs[b] for b in FILE_NAMES)).hexdigest()[:16]
    assert dataset_digest("mnist", raw_dir) == expected


def test_mixed_gz_and_raw(tmp_path, arrays):
    blobs = encode(arrays)
    d = tmp_path / "mixed"
    write_dir(d, {k: v for k, v in blobs.items() if "train" in k}, gz=True)
    write_dir(d, {k: v for k, v in blobs.items() if "t10k" in k}, gz=False)
    assert dataset_digest("mnist", d) == hashlib.sha256(b"".join(blobs[b] for b in FILE_NAMES)).hexdigest()[:16]


@pytest.mark.parametrize("base", FILE_NAMES)
def test_digest_changes_with_one_byte(tmp_path, arrays, base):
    blobs = encode(arrays)
    before = dataset_digest("mnist", write_dir(tmp_path / "a", blobs, gz=False))
    changed = dict(blobs)
    b = bytearray(blobs[base])
    b[-1] = (b[-1] + 1) % 10  # stays a valid label / pixel
    changed[base] = bytes(b)
    after = dataset_digest("mnist", write_dir(tmp_path / "b", changed, gz=True))
    assert before != after


def test_cache_sees_file_changes(tmp_path, arrays):
    d = write_dir(tmp_path / "d", encode(arrays), gz=False)
    before = dataset_digest("mnist", d)
    write_dir(d, encode(make_arrays(seed=1)), gz=False)
    os.utime(d / FILE_NAMES[0], ns=(1, 1))  # make sure the stamp differs even on coarse clocks
    assert dataset_digest("mnist", d) != before


def test_cache_reads_files_once(raw_dir, monkeypatch):
    calls = []
    real = reading.read_bytes
    monkeypatch.setattr(reading, "read_bytes", lambda p, *limit: calls.append(p) or real(p, *limit))
    for n in (5, 10, 15):
        load_dataset("mnist", raw_dir, n, 5)
    dataset_digest("mnist", raw_dir)
    assert len(calls) == 4


def test_env_var_honoured(raw_dir, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_DIR", str(raw_dir))
    assert resolve_data_dir(None) == raw_dir
    ds = load_dataset("mnist", None, None, None)
    assert ds.source == str(raw_dir) and ds.x_train.shape == (N_TRAIN, 784)


def test_argument_beats_env_var(raw_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path / "nowhere"))
    assert resolve_data_dir(raw_dir) == raw_dir


def test_relative_dir_is_relative_to_cwd(raw_dir, monkeypatch):
    monkeypatch.chdir(raw_dir.parent)
    assert resolve_data_dir(raw_dir.name) == raw_dir
    assert load_dataset("mnist", raw_dir.name, 2, 2).source == str(raw_dir)


def test_no_dir_means_keras_fallback(monkeypatch):
    assert resolve_data_dir(None) is None
    monkeypatch.setenv("STUDY_DATA_DIR", "")
    assert resolve_data_dir(None) is None


def test_keras_fallback_uses_keras_arrays(monkeypatch, arrays):
    """The fallback digests the arrays as the IDX files would, without touching the network."""
    import types

    fake_mnist = types.SimpleNamespace(
        load_data=lambda: (
            (arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]),
            (arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]),
        )
    )
    fake_keras = types.SimpleNamespace(datasets=types.SimpleNamespace(mnist=fake_mnist))
    monkeypatch.setitem(sys.modules, "keras", fake_keras)
    ds = load_dataset("mnist", None, 4, 2)
    assert ds.source == "keras.datasets"
    assert ds.x_train.shape == (4, 784) and ds.y_test.dtype == np.int32
    blobs = encode(arrays)
    assert ds.digest == hashlib.sha256(b"".join(blobs[b] for b in FILE_NAMES)).hexdigest()[:16]


# --- corrupted inputs -------------------------------------------------------------------


def _corrupt(tmp_path: Path, base: str, blob: bytes | None, gz: bool = False) -> tuple[Path, str]:
    """Valid directory with one file replaced by `blob` (None: removed); returns (dir, file name)."""
    d = write_dir(tmp_path / "bad", encode(make_arrays()), gz=False)
    (d / base).unlink()
    if blob is None:
        return d, base
    name = f"{base}.gz" if gz else base
    (d / name).write_bytes(blob)
    return d, name


def _images(n=N_TRAIN, rows=28, cols=28):
    return np.zeros((n, rows, cols), dtype=np.uint8)


CORRUPTIONS = {
    "missing file": ("t10k-labels-idx1-ubyte", None, "missing"),
    "bad magic": ("train-images-idx3-ubyte", idx_images(_images(), magic=0x801), "bad magic"),
    "labels with image magic": (
        "train-labels-idx1-ubyte",
        struct.pack(">II", 0x803, N_TRAIN) + bytes(N_TRAIN),
        "bad magic",
    ),
    "truncated data": ("train-images-idx3-ubyte", idx_images(_images())[:-100], "truncated"),
    "too-long data": ("t10k-images-idx3-ubyte", idx_images(_images(N_TEST)) + b"\0" * 7, "too long"),
    "header shorter than magic": ("train-labels-idx1-ubyte", b"\0\0", "header too short"),
    "header shorter than dims": (
        "train-images-idx3-ubyte",
        struct.pack(">III", 0x803, N_TRAIN, 28),
        "header too short",
    ),
    "empty file": ("t10k-images-idx3-ubyte", b"", "header too short"),
    "wrong dims": ("train-images-idx3-ubyte", idx_images(_images(rows=32, cols=32)), "32×32"),
    "label out of range": (
        "train-labels-idx1-ubyte",
        idx_labels(np.array([1] * 5 + [12] + [0] * 14)),
        "label 12 at index 5",
    ),
    "count mismatch": ("t10k-labels-idx1-ubyte", idx_labels(np.zeros(N_TEST - 1)), "labels"),
}


@pytest.mark.parametrize("base,blob,needle", CORRUPTIONS.values(), ids=CORRUPTIONS.keys())
def test_corrupted_raw(tmp_path, base, blob, needle):
    d, name = _corrupt(tmp_path, base, blob)
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", d, None, None)
    msg = str(exc.value)
    assert "\n" not in msg
    assert needle in msg
    assert base in msg  # names the file (count mismatch names the images file and the labels file)
    assert issubclass(DataError, StudyError)


@pytest.mark.parametrize(
    "base,blob,needle",
    [v for k, v in CORRUPTIONS.items() if k in ("truncated data", "label out of range", "bad magic")],
)
def test_corrupted_inside_gzip(tmp_path, base, blob, needle):
    d, name = _corrupt(tmp_path, base, gzip.compress(blob), gz=True)
    with pytest.raises(DataError, match=needle) as exc:
        load_dataset("mnist", d, None, None)
    assert f"{name}" in str(exc.value) and name.endswith(".gz")


GZIP_DAMAGE = {
    "not gzip": lambda z: b"this is not gzip at all",
    "cut short": lambda z: z[: len(z) // 2],
    "flipped payload": lambda z: z[:20] + bytes([z[20] ^ 0xFF]) + z[21:],
    "bad crc": lambda z: z[:-8] + bytes([z[-8] ^ 0xFF]) + z[-7:],
}


@pytest.mark.parametrize("damage", GZIP_DAMAGE.values(), ids=GZIP_DAMAGE.keys())
def test_corrupted_gzip(tmp_path, damage):
    base = "train-images-idx3-ubyte"
    rng = np.random.default_rng(1)
    z = gzip.compress(idx_images(rng.integers(0, 256, (N_TRAIN, 28, 28), dtype=np.uint8)), mtime=0)
    d, name = _corrupt(tmp_path, base, damage(z), gz=True)
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", d, None, None)
    msg = str(exc.value)
    assert name in msg and "\n" not in msg


def gzip_of_zeros(path: Path, head: bytes, zeros: int) -> None:
    """`head` then `zeros` zero bytes, gzipped as a stream (a few hundred KB on disk for 100 MB inflated)."""
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(head)
        block = bytes(1 << 20)
        for _ in range(zeros >> 20):
            out.write(block)


def test_a_gzip_bomb_is_refused_at_the_size_its_header_declares(tmp_path):
    """A valid header for the test images, then 100 MiB of zeros: inflating stops a MiB past the declared
    N_TEST × 28 × 28 bytes, with one line, instead of reading everything into memory."""
    base = "t10k-images-idx3-ubyte"
    d, name = _corrupt(tmp_path, base, b"")
    (d / base).unlink()
    gzip_of_zeros(d / f"{base}.gz", struct.pack(">IIII", 0x803, N_TEST, 28, 28), 100 << 20)
    assert (d / f"{base}.gz").stat().st_size < 1 << 20
    with pytest.raises(DataError) as exc:
        load_dataset("mnist", d, None, None)
    (line,) = str(exc.value).splitlines()
    limit = 16 + N_TEST * 28 * 28 + (1 << 20)
    assert line == f"{d / base}.gz: inflates to more than {limit:,} bytes, the most this file can hold"


def test_every_read_is_bounded_raw_or_gzipped(tmp_path):
    raw, packed = tmp_path / "big.bin", tmp_path / "big.bin.gz"
    raw.write_bytes(bytes(5000))
    packed.write_bytes(gzip.compress(bytes(5000)))
    for path in (raw, packed):
        assert reading.read_bytes(path, 5000) == bytes(5000)
        with pytest.raises(DataError, match="more than the 4,999 this file can hold|more than 4,999 bytes"):
            reading.read_bytes(path, 4999)


def test_missing_directory(tmp_path):
    d = tmp_path / "does-not-exist"
    with pytest.raises(DataError, match="does not exist") as exc:
        load_dataset("mnist", d, None, None)
    assert str(d) in str(exc.value)
    with pytest.raises(DataError, match="does-not-exist"):
        resolve_data_dir(d)


def test_missing_directory_from_env(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_DATA_DIR", str(tmp_path / "gone"))
    with pytest.raises(DataError, match="gone.*STUDY_DATA_DIR"):
        load_dataset("mnist", None, None, None)


def test_data_dir_is_a_file(tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    with pytest.raises(DataError, match="not a directory"):
        resolve_data_dir(f)


def test_missing_file_lists_directory(tmp_path):
    d = tmp_path / "partial"
    d.mkdir()
    (d / "README").write_text("hi")
    with pytest.raises(DataError) as exc:
        resolve_data_dir(d)
    msg = str(exc.value)
    assert "train-images-idx3-ubyte" in msg and "README" in msg and "expected" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "train_size,test_size,needle,fname",
    [
        (N_TRAIN + 1, None, f"train_size={N_TRAIN + 1} but only {N_TRAIN}", "train-images-idx3-ubyte"),
        (None, N_TEST + 5, f"test_size={N_TEST + 5} but only {N_TEST}", "t10k-images-idx3-ubyte"),
        (0, None, "train_size=0", "train-images-idx3-ubyte"),
        (None, -3, "test_size=-3", "t10k-images-idx3-ubyte"),
    ],
)
def test_bad_subset_size(raw_dir, train_size, test_size, needle, fname):
    with pytest.raises(DataError, match=needle) as exc:
        load_dataset("mnist", raw_dir, train_size, test_size)
    assert fname in str(exc.value)


def test_unknown_dataset_name(raw_dir):
    with pytest.raises(DataError) as exc:
        load_dataset("svhn", raw_dir, None, None)
    msg = str(exc.value)
    assert "svhn" in msg and "mnist" in msg and "fashion_mnist" in msg and "cifar100" in msg
    with pytest.raises(DataError, match="svhn"):
        dataset_digest("svhn", raw_dir)


def test_fashion_mnist_reads_same_layout(raw_dir):
    ds = load_dataset("fashion_mnist", raw_dir, 3, 3)
    assert ds.name == "fashion_mnist" and ds.x_train.shape == (3, 784)


# --- the real MNIST -----------------------------------------------------------------------


def _real_mnist_dir() -> Path | None:
    value = os.environ.get("STUDY_DATA_DIR")
    if not value:
        return None
    d = Path(value)
    ok = all((d / b).is_file() or (d / f"{b}.gz").is_file() for b in FILE_NAMES)
    return d if ok else None


REAL_DIR = _real_mnist_dir()


@pytest.mark.skipif(REAL_DIR is None, reason="STUDY_DATA_DIR unset or lacks the MNIST IDX files")
def test_real_mnist():
    ds = load_dataset("mnist", REAL_DIR, None, None)
    assert ds.x_train.shape == (60000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert set(np.unique(ds.y_train)) == set(range(10))
    raw = REAL_DIR / "train-images-idx3-ubyte"
    blob = raw.read_bytes() if raw.is_file() else gzip.decompress((REAL_DIR / f"{raw.name}.gz").read_bytes())
    assert hashlib.md5(blob).hexdigest() == "6bbc9ace898e44ae57da46a324031adb"
    cnn = load_dataset("mnist", REAL_DIR, 1000, 500, flatten=False)
    assert cnn.x_train.shape == (1000, 28, 28, 1) and cnn.digest == ds.digest


# --- keras's own mnist.npz in a data directory ------------------------------------------------------


def test_keras_mnist_npz_reads_and_hashes_like_the_idx_files(tmp_path, arrays, raw_dir):
    d = tmp_path / "keras"
    d.mkdir()
    np.savez(
        d / "mnist.npz",
        x_train=arrays["train-images-idx3-ubyte"],
        y_train=arrays["train-labels-idx1-ubyte"],
        x_test=arrays["t10k-images-idx3-ubyte"],
        y_test=arrays["t10k-labels-idx1-ubyte"],
    )
    from_npz = load_dataset("mnist", d, 5, 3)
    from_idx = load_dataset("mnist", raw_dir, 5, 3)
    assert from_npz.source == str(d / "mnist.npz") and from_npz.digest == from_idx.digest
    np.testing.assert_array_equal(from_npz.x_train, from_idx.x_train)
    from study.data.shape import data_shape
    from study.spec.data import DataConfig

    assert data_shape(DataConfig(name="mnist", dir=str(d))).train == N_TRAIN
    with pytest.raises(DataError, match="train-images-idx3-ubyte: missing"):  # fashion_mnist has no npz form
        load_dataset("fashion_mnist", d, None, None)


def test_a_bad_keras_mnist_npz_is_one_line(tmp_path, arrays):
    d = tmp_path / "keras"
    d.mkdir()
    np.savez(d / "mnist.npz", x_train=arrays["train-images-idx3-ubyte"].astype(np.float32), y_train=np.zeros(N_TRAIN))
    with pytest.raises(DataError, match="mnist.npz: no array 'x_test'"):
        load_dataset("mnist", d, None, None)
    np.savez(
        d / "mnist.npz",
        x_train=arrays["train-images-idx3-ubyte"].astype(np.float32),
        y_train=arrays["train-labels-idx1-ubyte"],
        x_test=arrays["t10k-images-idx3-ubyte"],
        y_test=arrays["t10k-labels-idx1-ubyte"],
    )
    with pytest.raises(DataError, match="mnist.npz train: images are float32 and labels uint8; expected uint8"):
        load_dataset("mnist", d, None, None)
