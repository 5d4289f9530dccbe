"""n-bit packing against a bit-by-bit NumPy reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import qfast


def ref_pack(values: np.ndarray, bits: int) -> np.ndarray:
    """Each value's low `bits` bits, least significant first, laid end to end; 8 stream bits per byte, LSB first."""
    v = values.ravel().astype(np.uint8)
    stream = np.unpackbits(v[:, None], axis=1, bitorder="little")[:, :bits].ravel()
    return np.packbits(stream, bitorder="little")


@st.composite
def packable(draw):
    bits = draw(st.integers(1, 8))
    n = draw(st.integers(0, 300))
    vals = draw(st.lists(st.integers(0, (1 << bits) - 1), min_size=n, max_size=n))
    return np.array(vals, dtype=np.uint8), bits


@given(packable())
def test_pack_matches_reference_and_round_trips(case):
    values, bits = case
    packed = qfast.pack_bits(values, bits)
    assert packed.dtype == np.uint8 and packed.ndim == 1
    assert packed.size == -(-values.size * bits // 8)
    np.testing.assert_array_equal(packed, ref_pack(values, bits))
    np.testing.assert_array_equal(qfast.unpack_bits(packed, bits, values.size), values)


@pytest.mark.parametrize("bits", range(1, 9))
def test_large_arrays_every_width(bits):
    rng = np.random.default_rng(bits)
    n = 3_000_000 + 5  # several parallel chunks and a ragged tail
    values = rng.integers(0, 1 << bits, size=n, dtype=np.uint8)
    packed = qfast.pack_bits(values, bits)
    np.testing.assert_array_equal(packed, ref_pack(values, bits))
    np.testing.assert_array_equal(qfast.unpack_bits(packed, bits, n), values)


def test_one_bit_equals_numpy_packbits_little():
    v = np.array([1, 0, 1, 1, 0, 0, 0, 1, 1], np.uint8)
    np.testing.assert_array_equal(qfast.pack_bits(v, 1), np.packbits(v, bitorder="little"))


def test_documented_bit_order_example():
    np.testing.assert_array_equal(qfast.pack_bits(np.array([1, 2, 3, 0], np.uint8), 2), [0b00111001])


def test_images_pack_in_c_order(photo):
    idx = qfast.uniform_indices(photo[::3, ::5], bits=3)  # a strided view of any shape
    packed = qfast.pack_bits(idx, 3)
    np.testing.assert_array_equal(qfast.unpack_bits(packed, 3, idx.size).reshape(idx.shape), idx)


def test_extra_packed_bytes_are_ignored():
    packed = np.array([0xFF, 0xFF, 0xAB], np.uint8)
    np.testing.assert_array_equal(qfast.unpack_bits(packed, 4, 3), [15, 15, 15])
