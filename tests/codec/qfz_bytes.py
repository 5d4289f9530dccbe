"""Editing .qfz bytes in the codec tests (a module of its own, as tests/batch/batch_images.py)."""

from __future__ import annotations

import struct
import zlib


def reseal(data: bytes) -> bytes:
    """Recomputes both CRCs, so a changed field reaches the field checks instead of the header CRC."""
    b = bytearray(data)
    hl = struct.unpack_from("<H", b, 6)[0]
    if 8 <= hl <= len(b):
        struct.pack_into("<I", b, hl - 4, zlib.crc32(bytes(b[: hl - 4])))
        if len(b) >= hl + 4:
            struct.pack_into("<I", b, len(b) - 4, zlib.crc32(bytes(b[hl:-4])))
    return bytes(b)
