# tests/test_data.py: tests for minigan.data: the IDX reader, the MNIST loader
# (against the vendored real files), the DataLoader and scale_images.
"""Tests for minigan.data."""

from __future__ import annotations

import gzip
import shutil
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from minigan.data import (
    DATA_DIR_ENV,
    MNIST_MD5,
    DataLoader,
    DatasetError,
    DatasetNotFoundError,
    UnrecognisedDataWarning,
    default_data_dir,
    load_idx_dataset,
    load_mnist,
    read_idx,
    scale_images,
)

REPO_MNIST = Path(__file__).resolve().parents[1] / "data" / "mnist"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TYPE_BYTES = {
    np.uint8: 0x08,
    np.int8: 0x09,
    np.int16: 0x0B,
    np.int32: 0x0C,
    np.float32: 0x0D,
    np.float64: 0x0E,
}


def idx_bytes(array: np.ndarray) -> bytes:
    """Encode ``array`` as an IDX file (big-endian header and payload)."""
    array = np.asarray(array)
    header = struct.pack(">BBBB", 0, 0, TYPE_BYTES[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> Path:
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def write_fake_mnist(directory: Path, split: str, n: int, seed: int = 0) -> None:
    """Write a tiny MNIST-layout dataset (random content) into ``directory``."""
    rng = np.random.default_rng(seed)
    prefix = "train" if split == "train" else "t10k"
    images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, size=n, dtype=np.uint8)
    write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", images, gz=True)
    write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", labels, gz=True)


def raw_mnist(name: str) -> bytes:
    """The uncompressed bytes of a vendored MNIST file."""
    return gzip.decompress((REPO_MNIST / f"{name}.gz").read_bytes())


# ----------------------------------------------------------------- real MNIST


@pytest.fixture(scope="module")
def train_set():
    start = time.perf_counter()
    images, labels = load_mnist("train")
    return images, labels, time.perf_counter() - start


def test_train_split_shapes_counts_and_mean(train_set):
    images, labels, seconds = train_set
    assert images.shape == (60000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (60000,) and labels.dtype == np.uint8
    assert np.bincount(labels, minlength=10).tolist() == TRAIN_COUNTS
    assert round(float(images.mean()), 3) == 33.318
    assert images.flags.writeable
    assert seconds < 3.0, f"full train load took {seconds:.2f} s"


def test_test_split():
    images, labels = load_mnist("test", data_dir=REPO_MNIST)
    assert images.shape == (10000, 28, 28)
    assert np.bincount(labels, minlength=10).tolist() == TEST_COUNTS


def test_unknown_split():
    with pytest.raises(ValueError, match="split"):
        load_mnist("validation")


def test_raw_files_load_and_verify(tmp_path):
    for name in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (tmp_path / name).write_bytes(raw_mnist(name))
    images, labels = load_mnist("test", data_dir=tmp_path)  # md5 checked
    assert images.shape == (10000, 28, 28)
    assert np.bincount(labels).tolist() == TEST_COUNTS


def test_md5_catches_one_byte_corruption(tmp_path):
    name = "t10k-labels-idx1-ubyte"
    data = bytearray(raw_mnist(name))
    data[5000] = (data[5000] + 1) % 10  # still a valid IDX file, just wrong
    (tmp_path / name).write_bytes(bytes(data))
    shutil.copyfile(
        REPO_MNIST / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-images-idx3-ubyte.gz"
    )

    with pytest.raises(DatasetError, match="md5 mismatch") as info:
        read_idx(tmp_path / name, expected_md5=MNIST_MD5[name])
    assert str(tmp_path / name) in str(info.value)
    assert MNIST_MD5[name] in str(info.value)

    with pytest.raises(DatasetError, match="md5 mismatch"):
        load_mnist("test", data_dir=tmp_path)
    _, labels = load_mnist("test", data_dir=tmp_path, verify=False)
    assert labels[5000 - 8] == data[5000]


# ----------------------------------------------------------------- read_idx


@pytest.mark.parametrize("dtype", list(TYPE_BYTES))
@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_roundtrip(tmp_path, dtype, gz):
    array = (np.arange(2 * 3 * 4) - 5).astype(dtype).reshape(2, 3, 4)
    out = read_idx(write_idx(tmp_path / "a.idx", array, gz=gz))
    assert out.dtype == np.dtype(dtype).newbyteorder("=")
    assert out.dtype.isnative
    np.testing.assert_array_equal(out, array)


def test_compression_detected_by_content_not_name(tmp_path):
    array = np.arange(10, dtype=np.uint8)
    raw_named_gz = write_idx(tmp_path / "raw.gz", array, gz=False)
    gz_named_raw = write_idx(tmp_path / "compressed.idx", array, gz=True)
    np.testing.assert_array_equal(read_idx(raw_named_gz), array)
    np.testing.assert_array_equal(read_idx(gz_named_raw), array)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload(tmp_path, gz):
    data = idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))[:-100]
    path = tmp_path / "cut"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetError, match="truncated") as info:
        read_idx(path)
    message = str(info.value)
    assert str(path) in message
    assert "1568" in message and "1468" in message  # expected vs found bytes
    assert "MINIGAN_DATA_DIR" in message


def test_truncated_header(tmp_path):
    path = tmp_path / "cut"
    path.write_bytes(idx_bytes(np.zeros((2, 28, 28), dtype=np.uint8))[:10])
    with pytest.raises(DatasetError, match="truncated IDX header"):
        read_idx(path)


def test_trailing_bytes(tmp_path):
    path = tmp_path / "long"
    path.write_bytes(idx_bytes(np.zeros(4, dtype=np.uint8)) + b"xx")
    with pytest.raises(DatasetError, match="trailing bytes"):
        read_idx(path)


@pytest.mark.parametrize("head", [b"\x12\x34\x08\x01", b"\x00\x00\x07\x01", b"PK\x03\x04", b"\x00"])
def test_wrong_magic(tmp_path, head):
    path = tmp_path / "bad"
    path.write_bytes(head + b"\x00" * 8)
    with pytest.raises(DatasetError) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_corrupt_gzip_stream(tmp_path):
    blob = bytearray(gzip.compress(idx_bytes(np.arange(5000, dtype=np.int32))))
    for i in range(20, 60):  # scramble deflate data (CRC / zlib error)
        blob[i] ^= 0xFF
    (tmp_path / "scrambled.gz").write_bytes(bytes(blob))
    (tmp_path / "cut.gz").write_bytes(bytes(blob[: len(blob) // 2]))  # EOFError
    (tmp_path / "header.gz").write_bytes(b"\x1f\x8bgarbage")  # BadGzipFile
    for name in ("scrambled.gz", "cut.gz", "header.gz"):
        with pytest.raises(DatasetError, match="corrupt gzip") as info:
            read_idx(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        read_idx(tmp_path / "nope.gz")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, ValueError)
    assert "nope.gz" in str(info.value) and "MINIGAN_DATA_DIR" in str(info.value)


def test_missing_mnist_files_lists_candidates(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_mnist("test", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte") in message
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in message


def test_missing_data_dir(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_mnist("test", data_dir=tmp_path / "absent")


def test_count_mismatch(tmp_path):
    images = write_idx(tmp_path / "img", np.zeros((5, 28, 28), dtype=np.uint8))
    labels = write_idx(tmp_path / "lab", np.zeros(4, dtype=np.uint8))
    with pytest.raises(DatasetError, match="count mismatch") as info:
        load_idx_dataset(images, labels)
    assert "5 images" in str(info.value) and "4 labels" in str(info.value)


def test_swapped_files(tmp_path):
    images = write_idx(tmp_path / "img", np.zeros((5, 28, 28), dtype=np.uint8))
    labels = write_idx(tmp_path / "lab", np.zeros(5, dtype=np.uint8))
    with pytest.raises(DatasetError, match="swapped"):
        load_idx_dataset(labels, images)


def test_load_idx_dataset_generic(tmp_path):
    images = np.arange(3 * 4 * 5, dtype=np.float32).reshape(3, 4, 5)
    labels = np.array([7, 8, 9], dtype=np.int32)
    x, y = load_idx_dataset(
        write_idx(tmp_path / "x", images, gz=True), write_idx(tmp_path / "y", labels)
    )
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)


# ----------------------------------------------------------------- data dir


def test_default_data_dir_is_repo(monkeypatch):
    monkeypatch.delenv(DATA_DIR_ENV, raising=False)
    assert default_data_dir() == REPO_MNIST


def test_env_var_overrides_data_dir(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, "test", n=3)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    assert default_data_dir() == tmp_path
    images, labels = load_mnist("test", verify=False)  # e.g. Fashion-MNIST
    assert images.shape == (3, 28, 28) and labels.shape == (3,)
    # same names, different content: MNIST-format data, loaded and announced (docs/data.md)
    with pytest.warns(UnrecognisedDataWarning, match=f"from {tmp_path}: 3 test images"):
        again, _ = load_mnist("test")
    np.testing.assert_array_equal(again, images)


def test_env_var_pointing_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path / "typo"))
    with pytest.raises(DatasetNotFoundError, match=DATA_DIR_ENV):
        default_data_dir()


def test_wrong_image_shape_for_mnist(tmp_path):
    write_idx(tmp_path / "t10k-images-idx3-ubyte", np.zeros((2, 8, 8), np.uint8))
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(2, np.uint8))
    with pytest.raises(DatasetError, match=r"\(N, 28, 28\)"):
        load_mnist("test", data_dir=tmp_path, verify=False)


# ----------------------------------------------------------------- other MNIST-format data


def write_idx_set(directory: Path, split: str, images, labels, gz: bool) -> tuple[Path, Path]:
    """Write an (images, labels) pair under MNIST's file names (``.gz`` when ``gz``)."""
    prefix = "train" if split == "train" else "t10k"
    suffix = ".gz" if gz else ""
    return (
        write_idx(directory / f"{prefix}-images-idx3-ubyte{suffix}", np.asarray(images), gz=gz),
        write_idx(directory / f"{prefix}-labels-idx1-ubyte{suffix}", np.asarray(labels), gz=gz),
    )


def fashion_like(n: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8),
        (np.arange(n) % 10).astype(np.uint8),
    )


def no_warnings_load(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnrecognisedDataWarning)
        return load_mnist(*args, **kwargs)


@pytest.mark.parametrize("gz", [False, True])
def test_unrecognised_data_loads_and_is_announced_once(tmp_path, gz):
    images, labels = fashion_like(12)
    write_idx_set(tmp_path, "train", images, labels, gz)
    with pytest.warns(UnrecognisedDataWarning) as record:
        x, y = load_mnist("train", data_dir=tmp_path)
    assert len(record) == 1
    message = str(record[0].message)
    assert message.startswith(f"using unrecognised IDX data from {tmp_path}: 12 training images")
    assert "labels 0..9" in message
    np.testing.assert_array_equal(x, images)
    np.testing.assert_array_equal(y, labels)
    x2, _ = no_warnings_load("train", data_dir=tmp_path)  # announced once, not every load
    np.testing.assert_array_equal(x2, images)


def test_unrecognised_data_through_the_env_var(tmp_path, monkeypatch):
    images, labels = fashion_like(7)
    write_idx_set(tmp_path, "test", images, labels, gz=True)
    monkeypatch.setenv(DATA_DIR_ENV, str(tmp_path))
    with pytest.warns(UnrecognisedDataWarning, match=f"from {tmp_path}: 7 test images"):
        x, _ = load_mnist("test")
    np.testing.assert_array_equal(x, images)


def test_real_mnist_passes_md5_silently():
    x, y = no_warnings_load("test", data_dir=REPO_MNIST)
    assert x.shape == (10000, 28, 28) and np.bincount(y).tolist() == TEST_COUNTS


def test_corrupt_copy_of_packaged_mnist_is_refused(tmp_path, monkeypatch):
    # in the packaged data/mnist a mismatch means corruption, not another data set
    import minigan.data.mnist as mnist_module

    images, labels = fashion_like(5)
    write_idx_set(tmp_path, "test", images, labels, gz=True)
    monkeypatch.setattr(mnist_module, "_REPO_DATA_DIR", tmp_path)
    with pytest.raises(DatasetError, match="md5 mismatch") as info:
        load_mnist("test", data_dir=tmp_path)
    message = str(info.value)
    assert str(tmp_path / "t10k-images-idx3-ubyte.gz") in message
    assert MNIST_MD5["t10k-images-idx3-ubyte"] in message and "packaged" in message


def test_mnist_images_with_foreign_labels_are_refused(tmp_path):
    # one file of the pair is MNIST's: the other is a corrupt copy, not another data set
    shutil.copyfile(
        REPO_MNIST / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-images-idx3-ubyte.gz"
    )
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(10000, np.uint8))
    with pytest.raises(DatasetError, match="md5 mismatch") as info:
        load_mnist("test", data_dir=tmp_path)
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in str(info.value)
    assert "t10k-images-idx3-ubyte.gz is MNIST's own file" in str(info.value)


def _bad_sets():
    good_x, good_y = fashion_like(6)
    return {
        "labels-as-images": (good_y, good_y, "images", r"IDX magic is 0x00000801.*swapped"),
        "float-images": (good_x.astype(np.float32), good_y, "images", "0x00000d03"),
        "images-as-labels": (good_x, good_x, "labels", r"IDX magic is 0x00000803.*swapped"),
        "not-28x28": (np.zeros((6, 32, 32), np.uint8), good_y, "images", r"\(N, 28, 28\)"),
        "count-mismatch": (good_x, good_y[:5], "images", "6 images but .* 5 labels"),
        "label-range": (good_x, good_y + 5, "labels", r"0\.\.9 .* 5\.\.10"),
        "empty": (good_x[:0], good_y[:0], "images", "empty"),
    }


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("case", sorted(_bad_sets()))
@pytest.mark.parametrize("verify", [True, False])
def test_malformed_unknown_data_is_refused_naming_the_file(tmp_path, case, gz, verify):
    images, labels, which, pattern = _bad_sets()[case]
    paths = dict(zip(("images", "labels"), write_idx_set(tmp_path, "train", images, labels, gz)))
    with pytest.raises(DatasetError, match=pattern) as info:
        no_warnings_load("train", data_dir=tmp_path, verify=verify)
    assert str(paths[which]) in str(info.value)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("what", ["images", "labels"])
def test_truncated_or_bad_magic_unknown_data_is_refused(tmp_path, gz, what):
    images, labels = fashion_like(6)
    paths = dict(zip(("images", "labels"), write_idx_set(tmp_path, "test", images, labels, gz)))
    path = paths[what]
    data = idx_bytes(images if what == "images" else labels)
    for cut, pattern in ((data[:-3], "truncated"), (b"\x12\x34" + data[2:], "not an IDX file")):
        path.write_bytes(gzip.compress(cut) if gz else cut)
        with pytest.raises(DatasetError, match=pattern) as info:
            no_warnings_load("test", data_dir=tmp_path)
        assert str(path) in str(info.value)


# ----------------------------------------------------------------- DataLoader


def batches_of(loader):
    return [tuple(a.copy() for a in batch) for batch in loader]


@pytest.mark.parametrize(
    ("n", "bs", "drop_last", "expected"),
    [
        (10, 3, False, 4),
        (10, 3, True, 3),
        (9, 3, False, 3),
        (9, 3, True, 3),
        (2, 5, False, 1),
        (2, 5, True, 0),
        (0, 4, False, 0),
    ],
)
def test_batch_counts(n, bs, drop_last, expected):
    loader = DataLoader(np.arange(n), batch_size=bs, drop_last=drop_last)
    batches = list(loader)
    assert len(loader) == expected == len(batches)
    sizes = [len(b[0]) for b in batches]
    assert all(s == bs for s in sizes[:-1])
    if drop_last:
        assert all(s == bs for s in sizes)
    else:
        assert sum(sizes) == n


def test_every_sample_once_and_arrays_stay_aligned():
    x = np.arange(103)
    y = x * 10
    loader = DataLoader(x, y, batch_size=16, seed=3)
    seen = []
    for bx, by in loader:
        np.testing.assert_array_equal(by, bx * 10)
        seen.extend(bx.tolist())
    assert sorted(seen) == list(range(103))
    assert seen != list(range(103))  # it did shuffle


def test_single_array_yields_tuples():
    batch = next(iter(DataLoader(np.zeros((5, 2)), batch_size=2, shuffle=False)))
    assert isinstance(batch, tuple) and len(batch) == 1
    assert batch[0].shape == (2, 2)


def test_no_shuffle_keeps_order():
    loader = DataLoader(np.arange(7), batch_size=3, shuffle=False)
    assert [b[0].tolist() for b in loader] == [[0, 1, 2], [3, 4, 5], [6]]


def test_shuffle_is_deterministic_per_epoch():
    x = np.arange(50)
    a = DataLoader(x, batch_size=8, seed=1)
    b = DataLoader(x, batch_size=8, seed=1)
    a0, b0 = batches_of(a), batches_of(b)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(a0, b0, strict=True))
    assert a.epoch == 1
    a1 = batches_of(a)
    assert not np.array_equal(
        np.concatenate([t[0] for t in a0]), np.concatenate([t[0] for t in a1])
    )
    c = DataLoader(x, batch_size=8, seed=2)
    assert not np.array_equal(a0[0][0], batches_of(c)[0][0])


def test_set_epoch_reproduces_uninterrupted_run():
    x = np.arange(40)
    uninterrupted = DataLoader(x, batch_size=8, seed=5)
    runs = [batches_of(uninterrupted) for _ in range(3)]
    resumed = DataLoader(x, batch_size=8, seed=5)
    resumed.set_epoch(2)
    again = batches_of(resumed)
    assert all(np.array_equal(p[0], q[0]) for p, q in zip(runs[2], again, strict=True))
    assert resumed.epoch == 3


def test_partial_pass_does_not_advance_epoch():
    loader = DataLoader(np.arange(40), batch_size=8)
    for _ in loader:
        break
    assert loader.epoch == 0


def test_loader_validation():
    with pytest.raises(ValueError, match=r"\[3, 4\]"):
        DataLoader(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.zeros(3), batch_size=0)
    with pytest.raises(ValueError, match="at least one"):
        DataLoader()
    with pytest.raises(ValueError, match="epoch"):
        DataLoader(np.zeros(3)).set_epoch(-1)


# ----------------------------------------------------------------- scale_images


def test_scale_images_ranges():
    pixels = np.array([[0, 127, 255]], dtype=np.uint8)
    tanh = scale_images(pixels)
    unit = scale_images(pixels, "unit", dtype=np.float64)
    assert tanh.dtype == np.float32 and unit.dtype == np.float64
    assert tanh.shape == pixels.shape
    assert tanh.min() == -1.0 and tanh.max() == 1.0
    assert unit.min() == 0.0 and unit.max() == 1.0
    np.testing.assert_allclose(tanh, pixels / 127.5 - 1, rtol=1e-6)
    np.testing.assert_allclose(unit, pixels / 255.0)


def test_scale_images_rejects_bad_input():
    with pytest.raises(TypeError, match="uint8"):
        scale_images(np.zeros(3, np.float32))  # already scaled
    with pytest.raises(ValueError, match="value_range"):
        scale_images(np.zeros(3, np.uint8), "sigmoid")
