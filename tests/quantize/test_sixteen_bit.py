"""16-bit input as a user meets it: the scalar quantizers (uniform, Lloyd-Max, mu-law) take uint16 arrays and 16-bit
grey PIL images (any level count 2..65536, indices and reconstruction in 16 bits, or 8 bits on request), against
NumPy references; what is still 8-bit only (palettes, the codec, 16-bit colour files) says so, with the conversion to
use, instead of clipping or silently truncating; the report shows it converted, with a note."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


def png16(a: np.ndarray) -> bytes:
    """A 16-bit PNG (grey or RGB) written by hand: Pillow cannot write 16-bit RGB."""
    h, w = a.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if a.ndim == 3 else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


RGB16 = (np.arange(32 * 48 * 3).reshape(32, 48, 3) * 13 % 65536).astype(np.uint16)


def test_uint16_array_says_what_to_do_where_8_bit_only():
    with pytest.raises(TypeError, match=r"uint16.*8 bits per channel.*>> 8"):
        qfast.kmeans_palette(RGB16, 8)


def skewed16(shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    """16-bit values in two clumps and a thin spread: a histogram Lloyd-Max should follow."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    v = np.where(rng.random(n) < 0.5, rng.normal(9000, 1500, n), rng.normal(47000, 300, n))
    v = np.where(rng.random(n) < 0.1, rng.integers(0, 65536, n), v)
    return np.clip(v, 0, 65535).astype(np.uint16).reshape(shape)


def nearest(x: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Index of the nearest codeword of a sorted codebook, ties to the lower index (plain NumPy)."""
    d = np.abs(x.astype(np.int64)[..., None] - codebook.astype(np.int64))
    return d.argmin(axis=-1)


@pytest.mark.parametrize("levels", [2, 7, 64, 300, 5000])
def test_lloyd_max_16_bit_is_a_lloyd_fixed_point_and_beats_uniform(levels):
    x = skewed16((60, 70))
    q = qfast.quantize_lloyd_max(x, levels, max_iter=10_000, tol=0.0)
    assert q.indices.dtype == np.uint16 and q.codebook[0].dtype == np.uint16 and q.levels == (levels,)
    cb = q.codebook[0].astype(np.int64)
    assert np.all(np.diff(cb) >= 0)
    # Every pixel sits on its nearest codeword, and every codeword with pixels is its cell's mean rounded.
    np.testing.assert_array_equal(q.indices, nearest(x, cb))
    for i in np.unique(q.indices):
        cell = x[q.indices == i].astype(np.int64)
        assert cb[i] == (2 * cell.sum() + cell.size) // (2 * cell.size)
    rec = q.image()
    assert rec.dtype == np.uint16
    np.testing.assert_array_equal(rec, cb[q.indices])
    mse = np.mean((rec.astype(np.float64) - x) ** 2)
    uni = np.mean((qfast.quantize_uniform(x, levels).astype(np.float64) - x) ** 2)
    assert mse <= uni
    np.testing.assert_array_equal(q.image(depth=8), np.round(cb[q.indices] / 257).astype(np.uint8))


def test_lloyd_max_16_bit_is_lossless_with_enough_levels_and_keeps_alpha():
    x = skewed16((40, 50, 2))
    distinct = len(np.unique(x[..., 0]))
    q = qfast.quantize_lloyd_max(x, distinct)
    out = q.image()
    np.testing.assert_array_equal(out, x)  # colour: lossless; alpha: passed through untouched
    assert q.levels[1] == 65536
    grey = Image.fromarray(np.ascontiguousarray(x[..., 0]))
    np.testing.assert_array_equal(
        qfast.quantize_lloyd_max(grey, 9).image(), qfast.quantize_lloyd_max(x[..., 0], 9).image()
    )
    with pytest.raises(ValueError, match="levels: expected 2..65536"):
        qfast.quantize_lloyd_max(x, 70000)


@pytest.mark.parametrize("levels", [2, 8, 256, 3000])
@pytest.mark.parametrize("mu", [1e-6, 1.0, 255.0, 1e5])
def test_mu_law_16_bit_matches_numpy(levels, mu):
    x = np.arange(65536, dtype=np.uint16).reshape(256, 256)
    q = qfast.quantize_mu_law(x, levels, mu=mu)
    v = np.arange(65536, dtype=np.float64)
    scaled = np.log1p(mu * v / 65535.0) / np.log1p(mu) * levels
    index = np.clip(np.floor(scaled), 0, levels - 1).astype(np.int64)
    yc = (np.arange(levels) + 0.5) / levels
    codebook = np.clip(np.round(65535.0 / mu * np.expm1(yc * np.log1p(mu))), 0, 65535).astype(np.int64)
    got = q.indices.reshape(-1).astype(np.int64)
    edge = np.abs(scaled - np.round(scaled)) < 1e-9  # a last-bit difference of log1p may move a bin edge
    assert np.all((got == index) | edge)
    assert np.abs(q.codebook[0].astype(np.int64) - codebook).max() <= 1
    np.testing.assert_array_equal(q.image(), q.codebook[0][q.indices])
    with pytest.raises(ValueError, match="depth"):
        q.image(depth=12)


def ref16(x: np.ndarray, levels: list[int], rec: str) -> tuple[np.ndarray, np.ndarray]:
    L = np.array(levels, np.int64)
    idx = x.astype(np.int64).reshape(x.shape[0], x.shape[1], -1) * L >> 16
    if rec == "midpoint":
        lo = -(-65536 * idx // L)
        hi = -(-65536 * (idx + 1) // L) - 1
        val = -(-(lo + hi) // 2)
    else:
        val = np.round(idx * 65535 / (L - 1))
    return idx.reshape(x.shape).astype(np.uint16), val.reshape(x.shape).astype(np.uint16)


@pytest.mark.parametrize("levels", [2, 3, 100, 256, 1000, 4096, 65536, [16, 300, 2]])
@pytest.mark.parametrize("rec", ["midpoint", "full-range"])
def test_uniform_16_bit_matches_numpy(levels, rec):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 65536, (37, 41, 3), dtype=np.uint16)
    x[0, 0] = 0
    x[0, 1] = 65535
    lv = [levels] * 3 if isinstance(levels, int) else levels
    want_idx, want = ref16(x, lv, rec)
    idx = qfast.uniform_indices(x, levels)
    assert idx.dtype == np.uint16
    np.testing.assert_array_equal(idx, want_idx)
    out = qfast.quantize_uniform(x, levels, reconstruction=rec)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out, want)
    np.testing.assert_array_equal(
        qfast.quantize_uniform(x, levels, reconstruction=rec, depth=8), np.round(want / 257).astype(np.uint8)
    )


def test_uniform_16_bit_bits_alpha_and_pil():
    x = (np.arange(40 * 30 * 4).reshape(40, 30, 4) * 11 % 65536).astype(np.uint16)
    out = qfast.quantize_uniform(x, bits=12)
    np.testing.assert_array_equal(out[..., 3], x[..., 3])  # alpha kept unless given its own levels
    np.testing.assert_array_equal(out[..., :3], ref16(np.ascontiguousarray(x[..., :3]), [4096] * 3, "midpoint")[1])
    grey = Image.fromarray(np.ascontiguousarray(x[..., 0]))
    assert grey.mode.startswith("I;16")
    np.testing.assert_array_equal(qfast.quantize_uniform(grey, 64), qfast.quantize_uniform(x[..., 0], 64))
    with pytest.raises(ValueError, match="levels: expected 2..65536"):
        qfast.quantize_uniform(x, 70000)
    with pytest.raises(ValueError, match="depth: expected 8"):
        qfast.quantize_uniform(x[..., 0].astype(np.uint8), 8, depth=16)


@pytest.mark.parametrize(
    "kind,cmd",
    [
        ("rgb", ["quantize", "--bits", "3"]),  # Pillow reads 16-bit colour as 8 bits
        ("grey", ["quantize", "--bits", "3", "--dither", "floyd-steinberg"]),  # 16-bit: no dithering
        ("grey", ["palette", "--colors", "8"]),
        ("rgb", ["palette", "--colors", "8"]),
        ("grey", ["encode", "--levels", "8"]),
        ("rgb", ["encode", "--levels", "8"]),
    ],
)
def test_16_bit_png_is_refused_clearly(tmp_path, capsys, kind, cmd):
    src = tmp_path / "in16.png"
    src.write_bytes(png16(RGB16 if kind == "rgb" else RGB16[..., 0]))
    out = tmp_path / ("o.qfz" if cmd[0] == "encode" else "o.png")
    assert main([cmd[0], str(src), "-o", str(out), *cmd[1:]]) == 1
    err = capsys.readouterr().err
    assert "16-bit" in err and "8 bits" in err and err.count("\n") == 1 and not out.exists(), err


def test_16_bit_tiff_is_refused_clearly(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    src = tmp_path / "in16.tif"
    tifffile.imwrite(src, RGB16)
    assert main(["quantize", str(src), "-o", str(tmp_path / "o.png"), "--bits", "3"]) == 1
    assert "16-bit" in capsys.readouterr().err


def test_report_notes_16_bit_rgb(tmp_path, capsys):
    src = tmp_path / "in16.png"
    src.write_bytes(png16(RGB16))
    out = tmp_path / "r.html"
    assert main(["report", str(src), "-o", str(out)]) == 0, capsys.readouterr().err
    assert "16-bit" in out.read_text("utf-8")
    from qfast.dashboard.upload import load_upload

    img, note = load_upload("in16.png", src.read_bytes())
    assert "16-bit" in note
    with Image.open(io.BytesIO(src.read_bytes())) as im:
        assert im.mode == "RGB"


def test_cli_quantize_16_bit_grey(tmp_path, capsys):
    grey = np.ascontiguousarray(RGB16[..., 0])
    src = tmp_path / "g16.png"
    src.write_bytes(png16(grey))
    out = tmp_path / "q16.png"
    assert main(["quantize", str(src), "-o", str(out), "--levels", "1000", "-q"]) == 0
    with Image.open(out) as im:
        assert im.mode.startswith("I;16")
        np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), qfast.quantize_uniform(grey, 1000))
    out8 = tmp_path / "q8.png"
    assert main(["quantize", str(src), "-o", str(out8), "--bits", "4", "--depth", "8", "-q"]) == 0
    with Image.open(out8) as im:
        np.testing.assert_array_equal(np.asarray(im), qfast.quantize_uniform(grey, bits=4, depth=8))
    assert main(["quantize", str(src), "-o", str(tmp_path / "q.webp"), "--bits", "4"]) == 1
    assert "cannot hold 16-bit values" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["lloyd-max", "mu-law"])
def test_cli_nonuniform_16_bit_grey(tmp_path, method):
    grey = skewed16((48, 64))
    src = tmp_path / "g16.png"
    src.write_bytes(png16(grey))
    fn = qfast.quantize_lloyd_max if method == "lloyd-max" else qfast.quantize_mu_law
    out = tmp_path / "q16.png"
    assert main(["quantize", str(src), "-o", str(out), "--levels", "700", "--method", method, "-q"]) == 0
    with Image.open(out) as im:
        assert im.mode.startswith("I;16")
        np.testing.assert_array_equal(np.asarray(im).astype(np.uint16), fn(grey, 700).image())
    out8 = tmp_path / "q8.png"
    assert main(["quantize", str(src), "-o", str(out8), "--bits", "3", "--method", method, "--depth", "8", "-q"]) == 0
    with Image.open(out8) as im:
        np.testing.assert_array_equal(np.asarray(im), fn(grey, bits=3).image(depth=8))
