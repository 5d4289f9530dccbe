"""The codec's strength map: the encoder, which has the original, picks per tile how much of the corrector's change
decode applies (none, half, all), so a decoded image is never worse than the plain mid-bin decode on any tile,
whatever the picture; the map's bad forms are FormatErrors."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from qfz_bytes import reseal as _reseal

import qfast
from qfast import _core

pytestmark = pytest.mark.skipif(not hasattr(qfast, "Corrector"), reason="needs onnxruntime (a runtime dependency)")


@pytest.fixture(scope="module")
def mixed() -> np.ndarray:
    """A photo whose right half is noise: the corrector helps on the left and hurts on the right."""
    img = qfast.samples.load("parrots")[:256, :384].copy()
    rng = np.random.default_rng(0)
    img[:, 192:] = rng.integers(0, 256, img[:, 192:].shape, dtype=np.uint8)
    return img


def tile_sse(a: np.ndarray, b: np.ndarray, tile: int) -> np.ndarray:
    """Squared error per tile, in plain NumPy."""
    e = ((a.astype(np.int64) - b.astype(np.int64)) ** 2).sum(axis=2)
    h, w = e.shape
    ty, tx = -(-h // tile), -(-w // tile)
    e = np.pad(e, ((0, ty * tile - h), (0, tx * tile - w)))
    return e.reshape(ty, tile, tx, tile).sum(axis=(1, 3))


@pytest.mark.parametrize("opts", [{"levels": 4}, {"levels": 8}, {"max_error": 4}])
def test_never_worse_than_mid_bin_on_any_tile(mixed, opts):
    data = qfast.encode(mixed, **opts)
    without = qfast.encode(mixed, strength_map=False, **opts)
    h = qfast.inspect(data)
    assert h["version"] == 4 and h["strength_tile"] == 64
    codes = h["strength_map"]
    assert codes.shape == (4, 6) and set(np.unique(codes)) <= {0, 1, 2} and (codes != 2).any()
    assert len(data) - len(without) == 2 + -(-codes.size // 4)  # 2 bits a tile, and two bytes
    out = qfast.decode(data)
    plain = qfast.decode(data, correct=False)
    np.testing.assert_array_equal(plain, qfast.decode(without, correct=False))  # the map changes no pixel coding
    full = qfast.decode(without)
    e_map, e_plain, e_full = (tile_sse(x, mixed, 64) for x in (out, plain, full))
    assert (e_map <= e_plain).all() and (e_map <= e_full).all()
    assert e_map.sum() < e_full.sum()  # the noise tiles: the full correction made them worse
    # Each tile's output is exactly what its code says (against a NumPy blend of the two decodes).
    want = np.where(
        np.kron(codes, np.ones((64, 64), np.int64))[:256, :384, None] == 2,
        full,
        np.where(
            np.kron(codes, np.ones((64, 64), np.int64))[:256, :384, None] == 1,
            (plain.astype(np.int16) + full + 1) // 2,
            plain,
        ),
    )
    np.testing.assert_array_equal(out, want)
    if "max_error" in opts:
        assert np.abs(out.astype(int) - mixed).max() <= opts["max_error"]


def test_no_map_without_a_corrector_or_when_asked(mixed):
    for data in (qfast.encode(mixed, levels=8, corrector=None), qfast.encode(mixed, levels=8, strength_map=False)):
        h = qfast.inspect(data)
        assert h["version"] < 4 and h["strength_map"] is None
    grey = np.ascontiguousarray(mixed[..., 0])
    assert qfast.inspect(qfast.encode(grey, levels=8))["strength_map"] is None  # decode runs no corrector on grey
    with pytest.raises(TypeError, match="strength_map: expected a bool"):
        qfast.encode(mixed, levels=8, strength_map="yes")


def test_bad_maps_are_format_errors(mixed):
    data = qfast.encode(mixed, levels=4)
    assert qfast.inspect(data)["strength_map"] is not None
    map_at = 32 + 4 * 3 + 2  # after the channel table: tile log2, reserved, then the codes

    def refused(b: bytes, words: str) -> None:
        for fn in (qfast.inspect, qfast.decode):
            with pytest.raises(qfast.FormatError, match=words):
                fn(b)

    b = bytearray(data)
    b[map_at] = 0xFF  # four tiles of code 3
    refused(_reseal(b), "unknown strength code 3")
    b = bytearray(data)
    b[24:32] = bytes(8)  # no corrector id
    refused(_reseal(b), "strength map in a file that names no corrector")
    b = bytearray(data)
    b[map_at - 2] = 4  # 16-pixel tiles
    refused(_reseal(b), "tile size")
    b = bytearray(data)
    struct.pack_into("<H", b, 4, 3)  # a version-3 file with the map's flag
    refused(_reseal(b), "unknown flags")
    # Truncated: one byte of the map gone (and the header length with it).
    hl = struct.unpack_from("<H", data, 6)[0]
    b = bytearray(data[:map_at] + data[map_at + 1 :])
    struct.pack_into("<H", b, 6, hl - 1)
    refused(_reseal(b), "does not match")
    # The writer refuses the same maps.
    plain = qfast.encode(mixed, levels=4, corrector=None)
    codes = np.full((4, 6), 1, np.uint8)
    with pytest.raises(qfast.FormatError, match="names no corrector"):
        _core.with_strength_map(plain, 64, codes)
    with_id = qfast.encode(mixed, levels=4, strength_map=False)
    with pytest.raises(qfast.FormatError, match="expected 6 x 4"):
        _core.with_strength_map(with_id, 64, codes[:3])
    with pytest.raises(qfast.FormatError, match="unknown strength code 3"):
        _core.with_strength_map(with_id, 64, codes + 2)
    with pytest.raises(ValueError, match="tile: expected 32, 64 or 128"):
        _core.with_strength_map(with_id, 48, codes)
    # Removing the map gives back the file without one, byte for byte.
    assert _core.with_strength_map(data) == with_id


def test_corrector_applies_strengths_as_numpy_says():
    c = qfast.Corrector()
    img = qfast.samples.load("parrots")[:200, :300]
    q = qfast.quantize_uniform(img, 8)
    full = c.correct(q, 8)
    codes = np.random.default_rng(3).integers(0, 3, (4, 5)).astype(np.uint8)
    per_px = np.kron(codes, np.ones((64, 64), np.uint8))[:200, :300, None]
    half = (q.astype(np.int16) + full + 1) // 2
    want = np.where(per_px == 2, full, np.where(per_px == 1, half, q)).astype(np.uint8)
    np.testing.assert_array_equal(c.correct(q, 8, strengths=(64, codes)), want)
    with pytest.raises(ValueError, match=r"strengths: expected codes 0..2 of shape \(4, 5\)"):
        c.correct(q, 8, strengths=(64, codes[:3]))
    with pytest.raises(ValueError, match="strengths: expected codes"):
        c.correct(q, 8, strengths=(64, codes + 1))
    with pytest.raises(ValueError, match="colour images"):
        c.correct(np.ascontiguousarray(q[..., 0]), 8, strengths=(64, codes))
