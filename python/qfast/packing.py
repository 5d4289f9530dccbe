"""n-bit packing of small integers into dense byte streams."""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import as_bytes, as_int


def pack_bits(values: Any, bits: int) -> np.ndarray:
    """Packs uint8 values of ``bits`` bits each into ``ceil(n * bits / 8)`` bytes.

    Bit order: value k occupies bits ``k*bits .. (k+1)*bits`` of the stream, least significant bit first, and stream
    bit j is bit ``j % 8`` of byte ``j // 8`` (NumPy's ``bitorder="little"``; for 1 bit this equals
    ``np.packbits(values, bitorder="little")``). Unused high bits of the last byte are zero.

    Args:
        values: uint8 array of any shape (read in C order), every value below ``2**bits``.
        bits: bits per value, 1..8.

    Returns:
        1-D uint8 array.

    Raises:
        TypeError: values not a uint8 array. ValueError: bits out of range, or a value that does not fit.

    Example:
        >>> qfast.pack_bits(np.array([1, 2, 3, 0], np.uint8), 2)
        array([57], dtype=uint8)
    """
    v = as_bytes(values, "values")
    return _core.pack_bits(v, as_int(bits, "bits", 1, 8))


def unpack_bits(packed: Any, bits: int, count: int) -> np.ndarray:
    """Unpacks ``count`` values of ``bits`` bits each; the inverse of :func:`pack_bits`.

    Args:
        packed: uint8 array (read flat) of at least ``ceil(count * bits / 8)`` bytes; extra bytes are ignored.
        bits: bits per value, 1..8.
        count: the number of values, >= 0.

    Returns:
        1-D uint8 array of ``count`` values.

    Raises:
        TypeError: packed not a uint8 array. ValueError: bits or count out of range, or packed too short.
    """
    p = as_bytes(packed, "packed")
    return _core.unpack_bits(p, as_int(bits, "bits", 1, 8), as_int(count, "count", 0))
