"""The dashboard's computations: quantization, pictures, charts, exports and rate-distortion (no Panel needed)."""

from __future__ import annotations

import io
import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.dashboard import codec, exports, pictures, quantization, rate_distortion, upload
from qfast.dashboard.charts import histogram_chart, line_chart
from qfast.dashboard.quantization import ladder_settings
from qfast.dashboard.settings import FeatureUnavailable, Settings, UploadError

HAS_PALETTE = hasattr(qfast, "quantize_colors")
HAS_CODEC = hasattr(qfast, "encode") and hasattr(qfast, "decode")
HAS_CORRECTOR = hasattr(qfast, "Corrector")


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return qfast.samples.load()


@pytest.fixture
def small() -> np.ndarray:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:48, 0:64]
    base = np.stack([x * 4, y * 5, (x + y) * 2], axis=2)
    return (base + rng.integers(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------------
# Quantization


@pytest.mark.parametrize("method", ["uniform", "lloyd-max", "mu-law"])
@pytest.mark.parametrize("bits", [1, 3, 8])
def test_quantize_scalar_methods_match_the_public_api(img, method, bits):
    r = quantization.quantize(img, Settings(method=method, bits=bits))
    L = 1 << bits
    if method == "uniform":
        expected = qfast.quantize_uniform(img, L)
    elif method == "lloyd-max":
        expected = qfast.quantize_lloyd_max(img, L).image()
    else:
        expected = qfast.quantize_mu_law(img, L).image()
    np.testing.assert_array_equal(r.image, expected)
    assert r.psnr == pytest.approx(qfast.psnr(img, expected))
    assert r.ssim == pytest.approx(qfast.ssim(img, expected))
    assert r.mse == pytest.approx(qfast.mse(img, expected))
    assert r.max_error == int(np.abs(img.astype(int) - expected).max())
    assert r.packed_bytes == math.ceil(img.size * bits / 8)
    assert r.bpp(img.shape[0] * img.shape[1]) == pytest.approx(3 * bits)


def test_quantize_levels_mode_and_full_range(small):
    r = quantization.quantize(small, Settings(level_mode="levels", levels=5, reconstruction="full-range"))
    np.testing.assert_array_equal(r.image, qfast.quantize_uniform(small, 5, reconstruction="full-range"))
    assert r.packed_bytes == math.ceil(small.size * 3 / 8)  # 5 levels need 3 bits


def test_quantize_lossless_at_8_bits_is_exact(small):
    r = quantization.quantize(small, Settings(method="lloyd-max", bits=8))
    assert math.isinf(r.psnr) and r.max_error == 0 and r.mse == 0


def test_quantize_greyscale_and_tiny_images():
    grey = np.arange(64 * 40, dtype=np.uint8).reshape(40, 64)
    r = quantization.quantize(grey, Settings(bits=2))
    assert r.image.shape == grey.shape
    tiny = np.full((5, 7, 3), 100, np.uint8)
    r = quantization.quantize(tiny, Settings(bits=2))
    assert math.isnan(r.ssim) and r.image.shape == tiny.shape
    assert math.isnan(quantization.quantize(tiny, Settings(), with_ssim=False).ssim)


def test_without_ssim_it_is_nan_but_the_rest_agrees(img):
    a = quantization.quantize(img, Settings(bits=3), with_ssim=False)
    b = quantization.quantize(img, Settings(bits=3))
    assert math.isnan(a.ssim) and a.psnr == b.psnr and a.packed_bytes == b.packed_bytes


def test_ladder_settings():
    assert [s.bits for s in ladder_settings(Settings(method="mu-law", level_mode="levels"))] == [8, 4, 2, 1]
    assert all(s.method == "mu-law" and s.level_mode == "bits" for s in ladder_settings(Settings(method="mu-law")))
    assert [s.k for s in ladder_settings(Settings(method="palette"))] == [256, 64, 16, 4, 2]
    assert all(s.corrector == "off" for s in ladder_settings(Settings(corrector="fp32")))


@pytest.mark.skipif(HAS_PALETTE, reason="this build has palettes; the real palette tests run instead")
def test_palette_without_the_feature_says_not_available(small):
    with pytest.raises(FeatureUnavailable, match="not available in this build"):
        quantization.quantize(small, Settings(method="palette"))


@pytest.mark.skipif(HAS_CORRECTOR, reason="this build has the corrector; the real corrector tests run instead")
def test_corrector_without_the_feature_says_not_available(small):
    with pytest.raises(FeatureUnavailable, match="corrector"):
        codec.corrector_comparison(small, 8)
    # Asking for it where it does not exist leaves the plain result.
    r = quantization.quantize(small, Settings(corrector="fp32"))
    np.testing.assert_array_equal(r.image, qfast.quantize_uniform(small, 16))


@pytest.mark.skipif(HAS_CODEC, reason="this build has the codec; the real codec tests run instead")
def test_codec_without_the_feature_says_not_available(small):
    with pytest.raises(FeatureUnavailable, match="codec"):
        codec.codec_roundtrip(small, max_error=2)
    with pytest.raises(UploadError, match="codec"):
        upload.load_upload("x.qfz", b"QFZ whatever")


# --------------------------------------------------------------------------------------------------------------
# Pictures, charts, exports


def test_error_map(small):
    rgb, scale = pictures.error_map(small, small)
    assert scale == 1 and rgb.shape == small.shape and (rgb == pictures.HEAT_LUT[0]).all()
    q = qfast.quantize_uniform(small, 4)
    rgb, scale = pictures.error_map(q, small)
    assert scale == int(np.abs(small.astype(int) - q).max())
    assert (rgb.reshape(-1, 3) == pictures.HEAT_LUT[255]).all(axis=1).any()  # the worst pixel is at the top
    blocks, s2 = pictures.error_map(small, q, block=4)
    assert s2 == scale and blocks.shape == (12, 16, 3)
    assert (blocks.reshape(-1, 3) == pictures.HEAT_LUT[255]).all(axis=1).any()  # max-pooled, nothing averaged away


def test_histograms_and_chart(small):
    h = pictures.histograms(small)
    assert h.shape == (3, 256) and (h.sum(axis=1) == small.shape[0] * small.shape[1]).all()
    svg = histogram_chart(h, pictures.histograms(qfast.quantize_uniform(small, 4)))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "red" in svg and "blue" in svg
    grey = pictures.histograms(small[:, :, 0])
    assert grey.shape == (1, 256)
    ET.fromstring(histogram_chart(grey, grey))


def test_line_chart_is_valid_svg_with_legend_and_highlight():
    svg = line_chart(
        {"a": [(1, 20, "x"), (2, 30, "y")], "b<&>": [(0.5, math.inf, "bad"), (3, 40, "z")]},
        title="t",
        xlabel="bpp",
        ylabel="dB",
        highlight=(2.5, 33, "now"),
    )
    ET.fromstring(svg)
    assert "b&lt;&amp;&gt;" in svg and "current setting" in svg and svg.count("<polyline") == 1
    ET.fromstring(line_chart({}, title="empty", xlabel="x", ylabel="y"))


def test_thumbnail_and_sample_pixels(img):
    t = pictures.thumbnail(img, 256)
    assert t.shape == (171, 256, 3)
    assert pictures.thumbnail(img, 2000) is img
    px = pictures.sample_pixels(img, 500)
    assert px.shape == (500, 3) and px.dtype == np.uint8
    np.testing.assert_array_equal(px, pictures.sample_pixels(img, 500))  # fixed seed
    assert pictures.sample_pixels(img[:, :, 0], 10).shape == (10, 3)


def test_scatter3d_draws_pixels_and_palette(img):
    px = pictures.sample_pixels(img, 800)
    plain = pictures.scatter3d(px, None, size=200)
    pal = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    with_pal = pictures.scatter3d(px, pal, size=200, azimuth=120)
    assert plain.shape == with_pal.shape == (200, 200, 3)
    assert not np.array_equal(plain, with_pal)


def test_exports_round_trip(small):
    r = quantization.quantize(small, Settings(bits=2))
    with Image.open(io.BytesIO(exports.export_bytes(r, "png"))) as im:
        np.testing.assert_array_equal(np.asarray(im), r.image)
    for fmt, pil_fmt in (("indexed-png", "PNG"), ("gif", "GIF")):
        with Image.open(io.BytesIO(exports.export_bytes(r, fmt))) as im:
            assert im.format == pil_fmt and im.mode == "P"
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), r.image)
    with pytest.raises(ValueError, match="^fmt:"):
        exports.export_bytes(r, "jpeg")


def test_indexed_export_refuses_more_than_256_colours(img):
    r = quantization.quantize(img, Settings(bits=8))
    with pytest.raises(ValueError, match="^result: .* more than an indexed image holds"):
        exports.export_bytes(r, "gif")
    grey = quantization.quantize(img[:, :, 1], Settings(bits=8))
    with Image.open(io.BytesIO(exports.export_bytes(grey, "indexed-png"))) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("L")), img[:, :, 1])


def test_ladder_gif_has_a_frame_per_rung(small):
    rungs = [quantization.quantize(small, s) for s in ladder_settings(Settings())]
    with Image.open(io.BytesIO(exports.ladder_gif(small, rungs))) as im:
        assert im.format == "GIF" and im.n_frames == 5


def test_rate_distortion(small):
    rd = rate_distortion.rate_distortion(small)
    assert {"qfast uniform (packed)", "qfast lloyd-max (packed)", "JPEG", "WebP"} <= set(rd)
    assert [p[0] for p in rd["qfast uniform (packed)"]] == pytest.approx([3.0 * b for b in range(1, 7)])
    u, lm = rd["qfast uniform (packed)"], rd["qfast lloyd-max (packed)"]
    assert all(b[1] >= a[1] - 1e-9 for a, b in zip(u, lm))  # Lloyd-Max never loses to midpoint uniform
    assert all(rd["JPEG"][i][0] <= rd["JPEG"][i + 1][0] for i in range(len(rd["JPEG"]) - 1))
    assert ("qfast palette" in rd) == HAS_PALETTE and ("qfast codec + corrector" in rd) == HAS_CODEC
