"""The dashboard's settings, its feature detection and its reading of uploaded files (no Panel needed)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.dashboard import upload
from qfast.dashboard.settings import FEATURES, Settings, UploadError

HAS_PALETTE = hasattr(qfast, "quantize_colors")
HAS_CODEC = hasattr(qfast, "encode") and hasattr(qfast, "decode")
HAS_CORRECTOR = hasattr(qfast, "Corrector")


@pytest.fixture
def small() -> np.ndarray:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:48, 0:64]
    base = np.stack([x * 4, y * 5, (x + y) * 2], axis=2)
    return (base + rng.integers(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


def _file(im: Image.Image, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------------------
# Settings


def test_features_match_the_public_api():
    assert FEATURES == {"palette": HAS_PALETTE, "codec": HAS_CODEC, "corrector": HAS_CORRECTOR}


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"method": "octree"}, "method"),
        ({"bits": 0}, "bits"),
        ({"bits": 9}, "bits"),
        ({"levels": 1}, "levels"),
        ({"levels": 257}, "levels"),
        ({"k": 0}, "k"),
        ({"dither": "blue"}, "dither"),
        ({"color_space": "hsv"}, "color_space"),
        ({"reconstruction": "mid"}, "reconstruction"),
        ({"corrector": "fp16"}, "corrector"),
        ({"level_mode": "x"}, "level_mode"),
    ],
)
def test_settings_refuse_bad_values_naming_them(kw, match):
    with pytest.raises(ValueError, match=f"^{match}:"):
        Settings(**kw)


def test_settings_levels_and_labels():
    assert Settings(bits=3).level_count == 8
    assert Settings(level_mode="levels", levels=5).level_count == 5
    assert Settings(bits=1).label() == "uniform, 1 bit (2 levels), midpoint"
    assert Settings(method="mu-law", level_mode="levels", levels=6).label() == "mu-law, 6 levels"
    assert "K = 16" in Settings(method="palette", k=16).label()
    assert not Settings(corrector="fp32", reconstruction="full-range").uses_corrector


def test_canonical_settings_ignore_what_does_not_apply():
    assert Settings(k=64, dither="atkinson", levels=7).canonical() == Settings()
    assert Settings(method="mu-law", reconstruction="full-range", bits=2).canonical() == Settings(
        method="mu-law", bits=2
    )
    assert Settings(method="palette", bits=2, k=8).canonical() == Settings(method="palette", k=8)
    assert Settings(level_mode="levels", levels=5, bits=2).canonical() == Settings(level_mode="levels", levels=5)
    assert Settings(reconstruction="full-range", corrector="int8").canonical().corrector == "off"


# --------------------------------------------------------------------------------------------------------------
# Uploads


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_load_upload_formats(small, fmt):
    data = _file(Image.fromarray(small), fmt)
    out, note = upload.load_upload(f"x.{fmt.lower()}", data)
    assert out.shape == small.shape and out.dtype == np.uint8 and note == ""
    if fmt in ("PNG", "TIFF"):
        np.testing.assert_array_equal(out, small)


def test_load_upload_alpha_grey_palette_and_16_bit(small):
    rgba = np.dstack([small, np.full(small.shape[:2], 0, np.uint8)])
    out, note = upload.load_upload("a.png", _file(Image.fromarray(rgba), "PNG"))
    assert out.shape == small.shape and (out == 255).all() and "alpha" in note  # transparent -> white
    grey, note = upload.load_upload("g.png", _file(Image.fromarray(small[:, :, 0]), "PNG"))
    assert grey.shape == small.shape[:2] and note == ""
    pal, _ = upload.load_upload("p.gif", _file(Image.fromarray(small).quantize(8), "PNG"))
    assert pal.shape == small.shape
    deep = Image.fromarray(small[:, :, 0].astype(np.uint16) * 257)
    out16, note = upload.load_upload("d.png", _file(deep, "PNG"))
    assert out16.ndim == 2 and "greyscale" in note


def test_load_upload_refuses_text_empty_and_other_formats(small):
    with pytest.raises(UploadError, match=r"^notes\.txt: not an image"):
        upload.load_upload("notes.txt", b"hello, this is not an image\n")
    with pytest.raises(UploadError, match="empty"):
        upload.load_upload("e.png", b"")
    with pytest.raises(UploadError, match="BMP files are not supported"):
        upload.load_upload("x.bmp", _file(Image.fromarray(small), "BMP"))
    with pytest.raises(UploadError, match="expected the file's bytes"):
        upload.load_upload("x.png", "text")  # type: ignore[arg-type]


def test_load_upload_limits(small):
    data = _file(Image.fromarray(small), "PNG")
    with pytest.raises(UploadError, match="over the 0 MB upload limit"):
        upload.load_upload("big.png", data, max_bytes=100)
    with pytest.raises(UploadError, match="64 x 48 .* over the 0 MP limit"):
        upload.load_upload("many.png", data, max_pixels=1000)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_load_upload_huge_declared_size_is_refused_before_decoding():
    # A 100 000 x 100 000 PNG header with a few bytes of data: refused from the header, nothing allocated.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    data = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", zlib.compress(b"\0" * 100))
        + _png_chunk(b"IEND", b"")
    )
    with pytest.raises(UploadError, match=r"^bomb\.png: too many pixels, over the 40 MP limit"):
        upload.load_upload("bomb.png", data)


def test_load_upload_truncated_png(small):
    data = _file(Image.fromarray(small), "PNG")
    with pytest.raises(UploadError, match=r"^cut\.png: damaged or truncated"):
        upload.load_upload("cut.png", data[: len(data) // 2])
