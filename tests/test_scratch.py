"""glassnet.scratch: temporary arrays that reuse the same memory, per slot and per thread."""

from __future__ import annotations

import threading

import numpy as np

from glassnet import functional as F
from glassnet import scratch as scratch_module
from glassnet.scratch import MAX_SCRATCH_BYTES, scratch


def test_the_same_slot_gives_the_same_memory_and_other_slots_other_memory():
    a = scratch(np, "test-a", (4, 5), np.float32)
    again = scratch(np, "test-a", (2, 3), np.float32)  # smaller: the same buffer's start
    other = scratch(np, "test-b", (4, 5), np.float32)
    assert a.shape == (4, 5) and again.shape == (2, 3) and a.dtype == np.float32
    assert again.ctypes.data == a.ctypes.data
    assert not np.shares_memory(a, other)


def test_a_larger_request_grows_the_buffer_and_dtypes_share_it():
    small = scratch(np, "test-grow", (10,), np.float32)
    large = scratch(np, "test-grow", (1000,), np.float64)
    assert large.shape == (1000,) and large.dtype == np.float64
    large[...] = 1.5  # the whole array is writable memory of its own dtype
    assert scratch(np, "test-grow", (1000,), np.float64).ctypes.data == large.ctypes.data
    assert small.size == 10


def test_buffers_are_aligned_to_a_cache_line():
    for size in (1, 7, 1000):
        array = scratch(np, f"test-align-{size}", (size,), np.float32)
        assert array.ctypes.data % 64 == 0


def test_requests_above_the_limit_get_a_fresh_array_each_time():
    values = MAX_SCRATCH_BYTES // 4 + 1
    first = scratch(np, "test-huge", (values,), np.float32)
    second = scratch(np, "test-huge", (values,), np.float32)
    assert not np.shares_memory(first, second)


def test_each_thread_has_its_own_buffers():
    here = scratch(np, "test-thread", (100,), np.float32)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(scratch(np, "test-thread", (100,), np.float32)))
    thread.start()
    thread.join()
    assert not np.shares_memory(here, seen[0])


def test_padding_in_scratch_memory_fills_every_border_whatever_was_there():
    """A scratch buffer holds the last use's numbers: padding there must still write every
    border (only the borders and the interior, not the whole array twice)."""
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float64).reshape(2, 3, 4, 5)
    pads = (1, 2, 3, 1)
    scratch_module.scratch(np, "padded", (2 * 3 * 7 * 9,), np.float64)[...] = np.nan
    padded = F.pad_images(x, pads, value=-7.0, scratch=True)
    expected = np.pad(x, ((0, 0), (0, 0), (1, 2), (3, 1)), constant_values=-7.0)
    np.testing.assert_array_equal(padded, expected)
    np.testing.assert_array_equal(F.pad_images(x, pads, value=-7.0), expected)


def test_unfolding_in_scratch_memory_equals_a_fresh_unfolding():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 5, 6))
    fresh = F.im2col_rows(x, (3, 3), (1, 1, 1, 1))[0]
    in_scratch = F.im2col_rows(x, (3, 3), (1, 1, 1, 1), scratch=True)[0]
    np.testing.assert_array_equal(in_scratch, fresh)
    cols = F.im2col(x, (3, 2), (2, 1), (1, 0, 0, 1))
    np.testing.assert_array_equal(F.im2col(x, (3, 2), (2, 1), (1, 0, 0, 1), scratch=True), cols)
    np.testing.assert_array_equal(F.col2im(cols, x.shape, (3, 2), (2, 1), (1, 0, 0, 1), scratch=True),
                                  F.col2im(cols, x.shape, (3, 2), (2, 1), (1, 0, 0, 1)))
