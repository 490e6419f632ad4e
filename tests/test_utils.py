# tests/test_utils.py: tests for minigan.utils: to_uint8, make_grid,
# save_image_grid and the crash-safe checkpoint save/load (the file format itself:
# tests/test_checkpoint_format.py).
"""Tests for minigan.utils."""

from __future__ import annotations

import os
import pickle

import numpy as np
import pytest
import safetensors.numpy
from PIL import Image
from safetensors import safe_open

from minigan.utils import (
    CheckpointError,
    CheckpointNotFoundError,
    load_checkpoint,
    make_grid,
    save_checkpoint,
    save_image_grid,
    to_uint8,
)

# ----------------------------------------------------------------- to_uint8


def test_to_uint8_ranges_clip_and_round():
    tanh = np.array([-2.0, -1.0, 0.0, 0.999, 1.0, 3.0, np.nan])
    assert to_uint8(tanh).tolist() == [0, 0, 128, 255, 255, 255, 0]
    unit = np.array([-0.5, 0.0, 0.5, 1.0, 1.5], dtype=np.float32)
    assert to_uint8(unit, "unit").tolist() == [0, 0, 128, 255, 255]
    assert to_uint8(unit, "unit").dtype == np.uint8


def test_to_uint8_passes_pixels_through():
    pixels = np.array([0, 7, 255], dtype=np.uint8)
    out = to_uint8(pixels)
    assert out.tolist() == [0, 7, 255] and out is not pixels


def test_to_uint8_bad_range():
    with pytest.raises(ValueError, match="value_range"):
        to_uint8(np.zeros(2), "sigmoid")


# ----------------------------------------------------------------- make_grid


def numbered_images(n, h=3, w=4):
    """uint8 images where image i is filled with the value i + 1."""
    return np.arange(1, n + 1, dtype=np.uint8)[:, None, None] * np.ones((h, w), np.uint8)


@pytest.mark.parametrize(
    ("n", "nrow", "padding", "shape"),
    [
        (10, 4, 2, (3 * 5 + 2, 4 * 6 + 2)),  # 3 rows of 4, last one partial
        (3, 8, 2, (1 * 5 + 2, 3 * 6 + 2)),  # fewer images than nrow
        (6, 3, 0, (2 * 3, 3 * 4)),  # no padding
        (1, 8, 1, (3 + 2, 4 + 2)),
    ],
)
def test_make_grid_shape(n, nrow, padding, shape):
    grid = make_grid(numbered_images(n), nrow=nrow, padding=padding)
    assert grid.shape == shape and grid.dtype == np.uint8


def test_make_grid_pixel_placement():
    grid = make_grid(numbered_images(5), nrow=2, padding=1, pad_value=200)
    h, w, p = 3, 4, 1
    for i in range(5):
        top, left = p + (i // 2) * (h + p), p + (i % 2) * (w + p)
        assert (grid[top : top + h, left : left + w] == i + 1).all()
    assert (grid[0] == 200).all() and (grid[:, 0] == 200).all()
    # the unused 6th cell (row 2, column 1) is padding
    assert (grid[p + 2 * (h + p) :, p + (w + p) :] == 200).all()
    assert grid.shape == (3 * (h + p) + p, 2 * (w + p) + p)


def test_make_grid_input_layouts():
    x = numbered_images(4, 28, 28)
    expected = make_grid(x)
    np.testing.assert_array_equal(make_grid(x[:, None]), expected)
    np.testing.assert_array_equal(make_grid(x.reshape(4, 784), image_shape=(28, 28)), expected)
    with pytest.raises(ValueError, match="image_shape"):
        make_grid(x.reshape(4, 784))
    with pytest.raises(ValueError, match="grayscale"):
        make_grid(np.zeros((2, 3, 5, 5), np.uint8))


def test_make_grid_converts_floats():
    grid = make_grid(np.ones((2, 2, 2), np.float32), padding=0)  # tanh 1.0 -> 255
    assert (grid == 255).all()
    grid = make_grid(np.full((2, 2, 2), 0.5), padding=0, value_range="unit")
    assert (grid == 128).all()


# ----------------------------------------------------------------- save_image_grid


def test_save_image_grid_writes_png(tmp_path):
    images = np.linspace(-1, 1, 10 * 784, dtype=np.float32).reshape(10, 784)
    path = save_image_grid(
        images,
        tmp_path / "sub" / "dir" / "grid.png",
        nrow=5,
        scale=3,
        image_shape=(28, 28),
    )
    assert path == tmp_path / "sub" / "dir" / "grid.png"
    with Image.open(path) as im:
        assert im.format == "PNG" and im.mode == "L"
        assert im.size == (3 * (5 * 30 + 2), 3 * (2 * 30 + 2))  # (width, height)
        pixels = np.asarray(im)
    grid = make_grid(images, nrow=5, image_shape=(28, 28))
    np.testing.assert_array_equal(pixels[::3, ::3], grid)
    assert os.listdir(path.parent) == ["grid.png"]  # no temp file left


def test_save_image_grid_bad_scale(tmp_path):
    with pytest.raises(ValueError, match="scale"):
        save_image_grid(np.zeros((1, 2, 2)), tmp_path / "x.png", scale=0)


# ----------------------------------------------------------------- checkpoints


def make_state():
    return {
        "epoch": 7,
        "models": {
            "G": {"w": np.arange(6, dtype=np.float32).reshape(2, 3)},
            "D": {"w": np.ones(4), "b": np.zeros(1, np.float64)},
        },
        "opt": {"step": 123, "m": [np.full(3, 0.5)], "betas": (0.5, 0.999)},
        "rng": np.random.default_rng(0).bit_generator.state,
        "note": "hello",
    }


def assert_state_equal(a, b):
    assert type(a) is type(b)
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_state_equal(a[key], b[key])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_state_equal(x, y)
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    else:
        assert a == b


def test_checkpoint_roundtrip(tmp_path):
    state = make_state()
    path = save_checkpoint(state, tmp_path / "ckpt" / "last.safetensors")
    assert path.is_file()
    assert_state_equal(load_checkpoint(path), state)
    with safe_open(path, framework="np") as f:  # a plain safetensors file
        header = f.metadata()
    assert header["format"] == "minigan-checkpoint" and header["version"] == "2"


def test_checkpoint_overwrite_is_atomic(tmp_path, monkeypatch):
    path = save_checkpoint({"epoch": 1}, tmp_path / "last.safetensors")
    before = path.read_bytes()

    def exploding_fsync(*args, **kwargs):
        raise RuntimeError("simulated crash during write")

    monkeypatch.setattr(os, "fsync", exploding_fsync)  # the data is written, not yet published
    with pytest.raises(RuntimeError, match="simulated crash"):
        save_checkpoint({"epoch": 2}, path)
    monkeypatch.undo()

    assert path.read_bytes() == before
    assert load_checkpoint(path) == {"epoch": 1}
    assert os.listdir(tmp_path) == ["last.safetensors"]  # temp file cleaned up


def test_truncated_checkpoint(tmp_path):
    path = save_checkpoint(make_state(), tmp_path / "c.safetensors")
    data = path.read_bytes()
    for cut in (len(data) // 2, 10, 0):
        path.write_bytes(data[:cut])
        with pytest.raises(CheckpointError, match="truncated") as info:
            load_checkpoint(path)
        assert str(path) in str(info.value)


def test_not_a_checkpoint(tmp_path):
    garbage = tmp_path / "garbage.bin"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n not a pickle")
    with pytest.raises(CheckpointError, match=r"garbage\.bin"):
        load_checkpoint(garbage)
    other = tmp_path / "other.pkl"
    other.write_bytes(pickle.dumps({"epoch": 3}))  # built here, never unpickled by minigan
    with pytest.raises(CheckpointError, match="looks like a pickle; minigan never unpickles"):
        load_checkpoint(other)
    plain = tmp_path / "plain.safetensors"
    plain.write_bytes(safetensors.numpy.save({"w": np.ones(2)}))
    with pytest.raises(CheckpointError, match="not a minigan checkpoint"):
        load_checkpoint(plain)
    future = tmp_path / "future.safetensors"
    meta = {"format": "minigan-checkpoint", "version": "99", "state": "{}", "sha256": ""}
    future.write_bytes(safetensors.numpy.save({}, metadata=meta))
    with pytest.raises(CheckpointError, match="version '99'"):
        load_checkpoint(future)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(CheckpointNotFoundError, match=r"nope\.safetensors") as info:
        load_checkpoint(tmp_path / "nope.safetensors")
    assert isinstance(info.value, FileNotFoundError)
    assert isinstance(info.value, CheckpointError)


def test_save_checkpoint_rejects_non_dict(tmp_path):
    with pytest.raises(TypeError, match="dict"):
        save_checkpoint([1, 2], tmp_path / "x.safetensors")
    assert not (tmp_path / "x.safetensors").exists()
