"""What `prepare` hands a cell: pixels scaled exactly as before, arrays the engine can use without a copy."""

import numpy as np
import pytest

from study.data.prepare import ALIGN, aligned_empty, inputs, targets


def test_pixels_are_the_float32_of_x_over_255_for_every_value():
    """The division in float32 gives the same values as the float64 x / 255.0 rounded to float32."""
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    scaled = inputs(pixels, flat=False, image=False)
    assert scaled.dtype == np.float32
    assert np.array_equal(scaled.ravel(), (np.arange(256) / 255.0).astype(np.float32))


@pytest.mark.parametrize("shape", [(0, 784), (1, 3), (7, 5, 3), (60_001,)])
def test_aligned_arrays_start_on_the_boundary(shape):
    a = aligned_empty(shape, np.float32)
    assert a.shape == shape and a.flags.c_contiguous and a.flags.writeable
    assert a.ctypes.data % ALIGN == 0 or a.size == 0


def test_inputs_and_targets_are_aligned_fresh_copies():
    x = np.random.default_rng(0).integers(0, 256, (101, 28, 28), dtype=np.uint8)
    y = np.arange(101) % 10
    xs, ys = inputs(x, flat=True, image=True), targets(y, classes=True)
    assert xs.shape == (101, 784) and xs.ctypes.data % ALIGN == 0
    assert ys.dtype == np.int32 and ys.ctypes.data % ALIGN == 0 and np.array_equal(ys, y)
    reals = targets(np.linspace(0, 1, 5), classes=False)
    assert reals.dtype == np.float32 and reals.ctypes.data % ALIGN == 0
    assert not np.shares_memory(ys, y)
