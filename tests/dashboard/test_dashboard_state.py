"""The dashboard without a browser: its computations, views, report, CLI commands and the state class."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast import cli
from qfast.dashboard import compute, report, views
from qfast.dashboard.charts import histogram_chart, line_chart
from qfast.dashboard.compute import FEATURES, FeatureUnavailable, Settings, UploadError

pn = pytest.importorskip("panel", reason="the dashboard extra (panel) is needed for the state-class tests")
from qfast.dashboard.app import Dashboard  # noqa: E402

HAS_PALETTE = hasattr(qfast, "quantize_colors")
HAS_CODEC = hasattr(qfast, "encode") and hasattr(qfast, "decode")
HAS_CORRECTOR = hasattr(qfast, "Corrector")
needs_palette = pytest.mark.skipif(
    not HAS_PALETTE, reason="qfast.quantize_colors (the palette feature) not in this build"
)
needs_codec = pytest.mark.skipif(not HAS_CODEC, reason="qfast.encode/decode (the codec) not in this build")
needs_corrector = pytest.mark.skipif(not HAS_CORRECTOR, reason="qfast.Corrector not in this build")


@pytest.fixture(autouse=True)
def _panel_state():
    """Each test starts from a clean Panel state (as Panel's own tests do)."""
    yield
    pn.state.reset()


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return qfast.samples.load()


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
# Settings and quantization


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


@pytest.mark.parametrize("method", ["uniform", "lloyd-max", "mu-law"])
@pytest.mark.parametrize("bits", [1, 3, 8])
def test_quantize_scalar_methods_match_the_public_api(img, method, bits):
    r = compute.quantize(img, Settings(method=method, bits=bits))
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
    r = compute.quantize(small, Settings(level_mode="levels", levels=5, reconstruction="full-range"))
    np.testing.assert_array_equal(r.image, qfast.quantize_uniform(small, 5, reconstruction="full-range"))
    assert r.packed_bytes == math.ceil(small.size * 3 / 8)  # 5 levels need 3 bits


def test_quantize_lossless_at_8_bits_is_exact(small):
    r = compute.quantize(small, Settings(method="lloyd-max", bits=8))
    assert math.isinf(r.psnr) and r.max_error == 0 and r.mse == 0


def test_quantize_greyscale_and_tiny_images():
    grey = np.arange(64 * 40, dtype=np.uint8).reshape(40, 64)
    r = compute.quantize(grey, Settings(bits=2))
    assert r.image.shape == grey.shape
    tiny = np.full((5, 7, 3), 100, np.uint8)
    r = compute.quantize(tiny, Settings(bits=2))
    assert math.isnan(r.ssim) and r.image.shape == tiny.shape
    assert math.isnan(compute.quantize(tiny, Settings(), with_ssim=False).ssim)


def test_without_ssim_it_is_nan_but_the_rest_agrees(img):
    a = compute.quantize(img, Settings(bits=3), with_ssim=False)
    b = compute.quantize(img, Settings(bits=3))
    assert math.isnan(a.ssim) and a.psnr == b.psnr and a.packed_bytes == b.packed_bytes


def test_canonical_settings_ignore_what_does_not_apply():
    assert Settings(k=64, dither="atkinson", levels=7).canonical() == Settings()
    assert Settings(method="mu-law", reconstruction="full-range", bits=2).canonical() == Settings(
        method="mu-law", bits=2
    )
    assert Settings(method="palette", bits=2, k=8).canonical() == Settings(method="palette", k=8)
    assert Settings(level_mode="levels", levels=5, bits=2).canonical() == Settings(level_mode="levels", levels=5)
    assert Settings(reconstruction="full-range", corrector="int8").canonical().corrector == "off"


def test_ladder_settings():
    assert [s.bits for s in compute.ladder_settings(Settings(method="mu-law", level_mode="levels"))] == [8, 4, 2, 1]
    assert all(
        s.method == "mu-law" and s.level_mode == "bits" for s in compute.ladder_settings(Settings(method="mu-law"))
    )
    assert [s.k for s in compute.ladder_settings(Settings(method="palette"))] == [256, 64, 16, 4, 2]
    assert all(s.corrector == "off" for s in compute.ladder_settings(Settings(corrector="fp32")))


@pytest.mark.skipif(HAS_PALETTE, reason="this build has palettes; the real palette tests run instead")
def test_palette_without_the_feature_says_not_available(small):
    with pytest.raises(FeatureUnavailable, match="not available in this build"):
        compute.quantize(small, Settings(method="palette"))


@pytest.mark.skipif(HAS_CORRECTOR, reason="this build has the corrector; the real corrector tests run instead")
def test_corrector_without_the_feature_says_not_available(small):
    with pytest.raises(FeatureUnavailable, match="corrector"):
        compute.corrector_comparison(small, 8)
    # Asking for it where it does not exist leaves the plain result.
    r = compute.quantize(small, Settings(corrector="fp32"))
    np.testing.assert_array_equal(r.image, qfast.quantize_uniform(small, 16))


@pytest.mark.skipif(HAS_CODEC, reason="this build has the codec; the real codec tests run instead")
def test_codec_without_the_feature_says_not_available(small):
    with pytest.raises(FeatureUnavailable, match="codec"):
        compute.codec_roundtrip(small, max_error=2)
    with pytest.raises(UploadError, match="codec"):
        compute.load_upload("x.qfz", b"QFZ whatever")


# --------------------------------------------------------------------------------------------------------------
# Pictures, charts, exports


def test_error_map(small):
    rgb, scale = compute.error_map(small, small)
    assert scale == 1 and rgb.shape == small.shape and (rgb == compute.HEAT_LUT[0]).all()
    q = qfast.quantize_uniform(small, 4)
    rgb, scale = compute.error_map(q, small)
    assert scale == int(np.abs(small.astype(int) - q).max())
    assert (rgb.reshape(-1, 3) == compute.HEAT_LUT[255]).all(axis=1).any()  # the worst pixel is at the top
    blocks, s2 = compute.error_map(small, q, block=4)
    assert s2 == scale and blocks.shape == (12, 16, 3)
    assert (blocks.reshape(-1, 3) == compute.HEAT_LUT[255]).all(axis=1).any()  # max-pooled, nothing averaged away


def test_histograms_and_chart(small):
    h = compute.histograms(small)
    assert h.shape == (3, 256) and (h.sum(axis=1) == small.shape[0] * small.shape[1]).all()
    svg = histogram_chart(h, compute.histograms(qfast.quantize_uniform(small, 4)))
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg") and "red" in svg and "blue" in svg
    grey = compute.histograms(small[:, :, 0])
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
    t = compute.thumbnail(img, 256)
    assert t.shape == (171, 256, 3)
    assert compute.thumbnail(img, 2000) is img
    px = compute.sample_pixels(img, 500)
    assert px.shape == (500, 3) and px.dtype == np.uint8
    np.testing.assert_array_equal(px, compute.sample_pixels(img, 500))  # fixed seed
    assert compute.sample_pixels(img[:, :, 0], 10).shape == (10, 3)


def test_scatter3d_draws_pixels_and_palette(img):
    px = compute.sample_pixels(img, 800)
    plain = compute.scatter3d(px, None, size=200)
    pal = np.array([[255, 0, 0], [0, 0, 255]], np.uint8)
    with_pal = compute.scatter3d(px, pal, size=200, azimuth=120)
    assert plain.shape == with_pal.shape == (200, 200, 3)
    assert not np.array_equal(plain, with_pal)


def test_exports_round_trip(small):
    r = compute.quantize(small, Settings(bits=2))
    with Image.open(io.BytesIO(compute.export_bytes(r, "png"))) as im:
        np.testing.assert_array_equal(np.asarray(im), r.image)
    for fmt, pil_fmt in (("indexed-png", "PNG"), ("gif", "GIF")):
        with Image.open(io.BytesIO(compute.export_bytes(r, fmt))) as im:
            assert im.format == pil_fmt and im.mode == "P"
            np.testing.assert_array_equal(np.asarray(im.convert("RGB")), r.image)
    with pytest.raises(ValueError, match="^fmt:"):
        compute.export_bytes(r, "jpeg")


def test_indexed_export_refuses_more_than_256_colours(img):
    r = compute.quantize(img, Settings(bits=8))
    with pytest.raises(ValueError, match="^result: .* more than an indexed image holds"):
        compute.export_bytes(r, "gif")
    grey = compute.quantize(img[:, :, 1], Settings(bits=8))
    with Image.open(io.BytesIO(compute.export_bytes(grey, "indexed-png"))) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("L")), img[:, :, 1])


def test_ladder_gif_has_a_frame_per_rung(small):
    rungs = [compute.quantize(small, s) for s in compute.ladder_settings(Settings())]
    with Image.open(io.BytesIO(compute.ladder_gif(small, rungs))) as im:
        assert im.format == "GIF" and im.n_frames == 5


def test_rate_distortion(small):
    rd = compute.rate_distortion(small)
    assert {"qfast uniform (packed)", "qfast lloyd-max (packed)", "JPEG", "WebP"} <= set(rd)
    assert [p[0] for p in rd["qfast uniform (packed)"]] == pytest.approx([3.0 * b for b in range(1, 7)])
    u, lm = rd["qfast uniform (packed)"], rd["qfast lloyd-max (packed)"]
    assert all(b[1] >= a[1] - 1e-9 for a, b in zip(u, lm))  # Lloyd-Max never loses to midpoint uniform
    assert all(rd["JPEG"][i][0] <= rd["JPEG"][i + 1][0] for i in range(len(rd["JPEG"]) - 1))
    assert ("qfast palette" in rd) == HAS_PALETTE and ("qfast codec (bounded)" in rd) == HAS_CODEC


def test_views_render(small):
    r = compute.quantize(small, Settings(bits=2))
    html = views.swipe(small, r.image, zoom="2:1", controls=True)
    assert 'class="qf-after"' in html and "width:128px" in html and "<select" in html
    assert views.swipe(small, r.image, original_src="data:x").count("data:x") == 1
    assert "computing..." in views.metrics_table(small, r, ssim_pending=True)
    m = views.metrics_table(small, r)
    assert f'data-psnr="{r.psnr:.4f}"' in m and "bpp" in m
    lad = views.ladder(small, [r], current=r.settings)
    assert lad.count("<figure") == 2 and "3px solid" in lad
    assert "qf-heat" in views.heat_map(small, r, width=32)
    assert (
        views.fmt_db(math.inf) == "inf (exact)" and views.fmt_bytes(1500) == "1.5 kB" and views.fmt_bytes(None) == "n/a"
    )
    assert "&lt;b&gt;" in views.note("<b>")
    assert views.swatches(np.array([[1, 2, 3], [255, 0, 16]], np.uint8)).count("#ff0010") == 2


def test_report_is_self_contained(img):
    html = report.build_report(img, Settings(method="lloyd-max", bits=3), name="parrots <test>")
    assert html.startswith("<!DOCTYPE html>") and "parrots &lt;test&gt;" in html
    for needle in ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http", "<script"):
        assert needle not in html
    for section in ("Comparison", "Quantization error", "Histograms", "The ladder", "Rate and distortion"):
        assert f"<h2>{section}</h2>" in html
    assert html.count("<figure") == 5 and "lloyd-max, 3 bits" in html


# --------------------------------------------------------------------------------------------------------------
# Uploads


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "WEBP", "TIFF"])
def test_load_upload_formats(small, fmt):
    data = _file(Image.fromarray(small), fmt)
    out, note = compute.load_upload(f"x.{fmt.lower()}", data)
    assert out.shape == small.shape and out.dtype == np.uint8 and note == ""
    if fmt in ("PNG", "TIFF"):
        np.testing.assert_array_equal(out, small)


def test_load_upload_alpha_grey_palette_and_16_bit(small):
    rgba = np.dstack([small, np.full(small.shape[:2], 0, np.uint8)])
    out, note = compute.load_upload("a.png", _file(Image.fromarray(rgba), "PNG"))
    assert out.shape == small.shape and (out == 255).all() and "alpha" in note  # transparent -> white
    grey, note = compute.load_upload("g.png", _file(Image.fromarray(small[:, :, 0]), "PNG"))
    assert grey.shape == small.shape[:2] and note == ""
    pal, _ = compute.load_upload("p.gif", _file(Image.fromarray(small).quantize(8), "PNG"))
    assert pal.shape == small.shape
    deep = Image.fromarray(small[:, :, 0].astype(np.uint16) * 257)
    out16, note = compute.load_upload("d.png", _file(deep, "PNG"))
    assert out16.ndim == 2 and "greyscale" in note


def test_load_upload_refuses_text_empty_and_other_formats(small):
    with pytest.raises(UploadError, match=r"^notes\.txt: not an image"):
        compute.load_upload("notes.txt", b"hello, this is not an image\n")
    with pytest.raises(UploadError, match="empty"):
        compute.load_upload("e.png", b"")
    with pytest.raises(UploadError, match="BMP files are not supported"):
        compute.load_upload("x.bmp", _file(Image.fromarray(small), "BMP"))
    with pytest.raises(UploadError, match="expected the file's bytes"):
        compute.load_upload("x.png", "text")  # type: ignore[arg-type]


def test_load_upload_limits(small):
    data = _file(Image.fromarray(small), "PNG")
    with pytest.raises(UploadError, match="over the 0 MB upload limit"):
        compute.load_upload("big.png", data, max_bytes=100)
    with pytest.raises(UploadError, match="64 x 48 .* over the 0 MP limit"):
        compute.load_upload("many.png", data, max_pixels=1000)


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
        compute.load_upload("bomb.png", data)


def test_load_upload_truncated_png(small):
    data = _file(Image.fromarray(small), "PNG")
    with pytest.raises(UploadError, match=r"^cut\.png: damaged or truncated"):
        compute.load_upload("cut.png", data[: len(data) // 2])


# --------------------------------------------------------------------------------------------------------------
# Feature views: they run when the feature is in the build


@needs_palette
def test_palette_result_and_exports(img):
    s = Settings(method="palette", k=16)
    r = compute.quantize(img, s)
    ref = qfast.quantize_colors(img, 16, dither="none", method="kmeans", seed=0, color_space="rgb")
    np.testing.assert_array_equal(r.image, ref.image())
    assert r.palette is not None and len(r.palette) <= 16
    assert r.packed_bytes == math.ceil(img.shape[0] * img.shape[1] * 4 / 8) + r.palette.size
    with Image.open(io.BytesIO(compute.export_bytes(r, "gif"))) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), r.image)
    d = Dashboard(method="palette", k=16)
    assert "qf-swatches" in str(d._palette_view().objects[0].object)
    assert "qfast palette" in compute.rate_distortion(img[:64, :64])


@needs_codec
def test_codec_roundtrip_and_qfz_upload(img):
    res = compute.codec_roundtrip(img, max_error=2)
    assert res["plain"]["max_error"] <= 2 and res["bpp"] > 0
    if res["corrected"] is not None:
        # The corrector moves values only where they stay within d of their whole bin: the bound holds.
        assert res["corrected"]["max_error"] <= 2
    out, _ = compute.load_upload("x.qfz", res["data"])
    np.testing.assert_array_equal(out, res["plain"]["image"])
    bad = bytearray(res["data"])
    bad[-1] ^= 0xFF
    with pytest.raises(UploadError, match="x.qfz"):
        compute.load_upload("x.qfz", bytes(bad))
    d = Dashboard()
    name, data = d.export("qfz")
    assert name.endswith(".qfz") and qfast.decode(data, correct=False).shape == img.shape


@needs_corrector
def test_corrector_comparison(img):
    crop = np.ascontiguousarray(img[:128, :192])
    res = compute.corrector_comparison(crop, 8)
    assert res["fp32"]["psnr"] > res["midbin"]["psnr"]
    assert res["int8"]["image"].shape == crop.shape
    r = compute.quantize(crop, Settings(bits=3, corrector="int8"))
    assert r.settings.uses_corrector and r.psnr > res["midbin"]["psnr"]


# --------------------------------------------------------------------------------------------------------------
# The state class


def test_dashboard_defaults(img):
    d = Dashboard()
    assert d.source == "parrots" and d.settings() == Settings()
    np.testing.assert_array_equal(d.image, img)
    np.testing.assert_array_equal(d.result.image, qfast.quantize_uniform(img, 16))
    assert 'class="qf-metrics"' in d._metrics.object and d._swipe.after.startswith("data:image/png;base64,")
    assert d._swipe.before == compute.data_uri(img) and (d._swipe.image_width, d._swipe.image_height) == (768, 512)
    assert d.message == "" and d.param.method.objects[:3] == ["uniform", "lloyd-max", "mu-law"]
    assert ("palette" in d.param.method.objects) == HAS_PALETTE


def test_dashboard_bits_change_updates_result_and_views(img):
    d = Dashboard()
    before = (d.result, d._swipe.after, d._metrics.object, d._heat.object, d._hist.object)
    rev, original = d.revision, d._swipe.before
    d.bits = 2
    after = (d.result, d._swipe.after, d._metrics.object, d._heat.object, d._hist.object)
    assert d._swipe.before is original
    assert all(a != b for a, b in zip(before[1:], after[1:])) and d.revision == rev + 1
    assert d.result.psnr == pytest.approx(qfast.psnr(img, qfast.quantize_uniform(img, 4)))
    assert d.result.psnr < before[0].psnr


def test_dashboard_caches_repeated_settings():
    d = Dashboard()
    first = d.result
    d.bits = 2
    misses = d._cache.misses
    d.bits = 4
    assert d.result is first and d._cache.misses == misses  # came from the cache, nothing recomputed
    d.param.update(method="lloyd-max", level_mode="levels", levels=7)
    assert d.result.settings.label() == "lloyd-max, 7 levels"
    misses = d._cache.misses
    d.param.update(dither="atkinson", reconstruction="full-range")  # neither applies to Lloyd-Max
    assert d._cache.misses == misses


def test_dashboard_quick_changes_do_not_pile_up():
    """Many changes while one computation runs: only the first and the latest are computed, the latest shown."""
    d = Dashboard()
    calls = []
    real = d._compute_main

    def counting(*args, **kw):
        calls.append(args[2].bits)
        return real(*args, **kw)

    d._compute_main = counting  # type: ignore[method-assign]

    async def clicks() -> None:
        tasks = []
        for bits in (1, 2, 3, 5, 6, 7, 3):
            with pn.io.hold(), __import__("param").parameterized.discard_events(d):
                d.bits = bits
            d._gen += 1
            tasks.append(asyncio.ensure_future(d._refresh_async()))
            await asyncio.sleep(0)
        await asyncio.gather(*tasks)

    asyncio.run(clicks())
    assert d.message == ""
    assert calls[0] == 1 and calls[-1] == 3 and len(calls) <= 2, calls
    assert d.result.settings.bits == 3 and not d.busy
    assert d.result.ssim == pytest.approx(qfast.ssim(d.image, d.result.image))  # the deferred SSIM arrived
    assert "computing" not in d._metrics.object and f"{d.result.ssim:.4f}" in d._metrics.object


def test_dashboard_upload_good_and_bad(small):
    d = Dashboard()
    assert d.load_file("photo.png", _file(Image.fromarray(small), "PNG"))
    assert d.source == "upload: photo.png" and d.image_name == "photo.png" and d.message == ""
    np.testing.assert_array_equal(d.image, small)
    assert d.result.image.shape == small.shape
    assert not d.load_file("readme.txt", b"plain text")
    assert "readme.txt: not an image" in d.message
    assert d.source == "upload: photo.png"  # the previous image stays
    d.bits = 1  # and the app keeps working
    assert d.result.settings.bits == 1 and d.result.image.shape == small.shape
    d.source = "parrots"
    assert d.image.shape == (512, 768, 3)
    assert d.load_file("photo.png", _file(Image.fromarray(small[:20]), "PNG"))  # same name again: replaced
    assert d.image.shape == (20, 64, 3) and d.param.source.objects.count("upload: photo.png") == 1


def test_dashboard_pages_do_not_share_uploads_and_keep_a_few(small):
    a, b = Dashboard(), Dashboard()
    for i in range(6):
        assert a.load_file(f"p{i}.png", _file(Image.fromarray(small), "PNG"))
    samples = qfast.samples.names()
    assert a.param.source.objects == samples + [f"upload: p{i}.png" for i in range(2, 6)]
    assert sum(n.startswith("upload: ") for n in a._images) == 4 and b.param.source.objects == samples


def test_dashboard_upload_alpha_and_grey_are_handled(small):
    d = Dashboard()
    rgba = np.dstack([small, np.full(small.shape[:2], 128, np.uint8)])
    assert d.load_file("a.png", _file(Image.fromarray(rgba), "PNG")) and "alpha" in d.note
    assert d.load_file("g.png", _file(Image.fromarray(small[:, :, 0]), "PNG"))
    assert d.note == "" and d.result.image.ndim == 2
    assert "qf-ladder" in d._ladder_view().object


def test_dashboard_reduces_huge_images(monkeypatch):
    import qfast.dashboard.app as app

    monkeypatch.setattr(app, "MAX_SIDE", 100)
    d = Dashboard()
    data = _file(Image.new("RGB", (400, 200), (10, 20, 30)), "PNG")
    assert d.load_file("wide.png", data)
    assert d.image.shape == (50, 100, 3) and "reduced to 100 x 50" in d.note


def test_dashboard_upload_limits_are_configurable(small):
    d = Dashboard(max_upload_bytes=50)
    assert not d.load_file("x.png", _file(Image.fromarray(small), "PNG"))
    assert "upload limit" in d.message


def test_dashboard_views_and_exports(small):
    d = Dashboard()
    d.load_file("s.png", _file(Image.fromarray(small), "PNG"))
    d.bits = 2
    assert d._ladder_view().object.count("<figure") == 5
    assert "<svg" in d._rd_view().object
    for kind, ext in (
        ("png", ".png"),
        ("indexed-png", "-indexed.png"),
        ("gif", ".gif"),
        ("ladder-gif", "-ladder.gif"),
        ("report", "-report.html"),
    ):
        name, data = d.export(kind)
        assert name == f"s-uniform-4{ext}" and len(data) > 100
    with pytest.raises(ValueError, match="^kind:"):
        d.export("bmp")
    if not HAS_PALETTE:
        assert "not available in this build" in d._palette_view().object
    if not HAS_CODEC:
        assert "not available in this build" in d._codec_view().object
        with pytest.raises(FeatureUnavailable):
            d.export("qfz")
    if not HAS_CORRECTOR:
        assert "not available in this build" in d._corrector_view().object


def test_dashboard_download_reports_errors_in_the_page(img):
    d = Dashboard()
    d.bits = 8
    widget = d._download("gif", "GIF")
    assert widget.callback() is None and "export: result:" in d.message
    widget = d._download("png", "PNG")
    assert widget.callback().getvalue()[:8] == b"\x89PNG\r\n\x1a\n" and widget.filename == "parrots-uniform-256.png"


def test_dashboard_page_builds():
    page = Dashboard().__panel__()
    assert isinstance(page, pn.Column)
    assert any(isinstance(o, pn.Tabs) for o in page.select(pn.Tabs))


def test_dashboard_zoom_changes_the_swipe_without_recomputing():
    d = Dashboard()
    rev = d.revision
    d.zoom = "2:1"
    assert d._swipe.zoom == "2:1" and d.revision == rev


# --------------------------------------------------------------------------------------------------------------
# CLI


def test_cli_report(tmp_path, capsys):
    src = qfast.samples.path("parrots")
    out = tmp_path / "r.html"
    assert cli.main(["report", str(src), "-o", str(out), "--bits", "2", "--method", "mu-law"]) == 0
    html = out.read_text("utf-8")
    assert "mu-law, 2 bits" in html and "<script" not in html
    assert cli.main(["report", str(src), "-o", str(out)]) == 1
    assert "already exists (use --force" in capsys.readouterr().err
    assert cli.main(["report", str(src), "-o", str(out), "--force"]) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("no image")
    assert cli.main(["report", str(bad), "-o", str(tmp_path / "b.html")]) == 1
    assert "not an image" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.png"), "-o", str(tmp_path / "m.html")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["report", str(src), "-o", str(tmp_path / "b.html"), "--bits", "9"]) == 1
    assert "bits:" in capsys.readouterr().err


@pytest.mark.skipif(HAS_PALETTE, reason="this build has palettes")
def test_cli_report_palette_without_the_feature(tmp_path, capsys):
    out = tmp_path / "p.html"
    assert cli.main(["report", str(qfast.samples.path()), "-o", str(out), "--method", "palette"]) == 1
    assert "not available in this build" in capsys.readouterr().err and not out.exists()


def test_cli_serve_without_panel_gives_a_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "panel", None)  # import panel now raises ImportError
    assert cli.main(["serve"]) == 1
    assert capsys.readouterr().err.strip() == "qfast: error: the dashboard needs Panel: pip install 'qfast[dashboard]'"


def test_cli_serve_checks_the_port(capsys):
    assert cli.main(["serve", "--port", "70000"]) == 1
    assert "--port: expected 0..65535" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------------------------
# The dashboard's wiring of the palette, codec and corrector views, checked against small stand-ins that follow the
# documented signatures (issues 3, 4, 5). They test this module's code paths only, not those features: the real
# features are tested above (and by their own tests) when the build has them.


class _StandInColors:
    def __init__(self, image: np.ndarray, k: int) -> None:
        flat = image.reshape(-1, image.shape[-1])[:, :3].astype(np.int32)
        coarse = (flat // 64) * 64 + 32
        colours, counts = np.unique(coarse, axis=0, return_counts=True)
        self.palette = colours[np.argsort(-counts)][:k].astype(np.uint8)
        d = ((flat[:, None, :] - self.palette[None].astype(np.int32)) ** 2).sum(axis=2)
        self.indices = d.argmin(axis=1).astype(np.uint8).reshape(image.shape[:2])
        self.mse = float(qfast.mse(image, self.image()))

    def image(self) -> np.ndarray:
        return self.palette[self.indices]

    def to_pil(self) -> Image.Image:
        im = Image.fromarray(self.indices).convert("P")
        pal = np.zeros((256, 3), np.uint8)
        pal[: len(self.palette)] = self.palette
        im.putpalette(pal.reshape(-1).tolist())
        return im


class _StandInFormatError(ValueError):
    pass


def _stand_in_encode(image, *, max_error=None, levels=None, **_):
    step = 2 * max_error + 1 if max_error is not None else max(1, 256 // levels)
    q = (image.astype(np.int32) // step * step + step // 2).clip(0, 255).astype(np.uint8)
    buf = io.BytesIO()
    np.save(buf, q)
    body = buf.getvalue()
    return b"QFZT" + struct.pack(">I", zlib.crc32(body)) + body


def _stand_in_decode(data, *, correct=True):
    if data[:4] != b"QFZT" or struct.unpack(">I", data[4:8])[0] != zlib.crc32(data[8:]):
        raise _StandInFormatError("CRC mismatch in the payload")
    return np.load(io.BytesIO(data[8:]))


def _stand_in_inspect(data):
    img = _stand_in_decode(data)
    return {"width": img.shape[1], "height": img.shape[0]}


class _StandInCorrector:
    def __init__(self, model="default"):
        self.model = model
        self.path = qfast.samples.path("parrots")  # any existing file: the dashboard only reads its size

    def correct(self, image, levels, *, clamp=False):
        out = image.astype(np.int16)
        out[1:-1, 1:-1] = (out[:-2, 1:-1] + out[2:, 1:-1] + out[1:-1, :-2] + out[1:-1, 2:] + 4 * out[1:-1, 1:-1]) // 8
        return out.clip(0, 255).astype(np.uint8)


@pytest.fixture
def stand_ins(monkeypatch):
    for name, value in (
        ("quantize_colors", lambda image, k, **kw: _StandInColors(image, k)),
        ("encode", _stand_in_encode),
        ("decode", _stand_in_decode),
        ("inspect", _stand_in_inspect),
        ("FormatError", _StandInFormatError),
        ("Corrector", _StandInCorrector),
    ):
        monkeypatch.setattr(qfast, name, value, raising=False)
    for feature in FEATURES:
        monkeypatch.setitem(FEATURES, feature, True)
    monkeypatch.setattr(compute, "_CORRECTORS", {})


def test_wiring_palette_views(stand_ins, small):
    d = Dashboard()
    assert "palette" in d.param.method.objects
    d.load_file("s.png", _file(Image.fromarray(small), "PNG"))
    d.param.update(method="palette", k=8)
    r = d.result
    assert r.palette is not None and len(r.palette) <= 8 and "K = 8" in d._metrics.object
    assert r.packed_bytes == math.ceil(small.shape[0] * small.shape[1] * 3 / 8) + r.palette.size
    view = d._palette_view()
    assert "qf-swatches" in view.objects[0].object and "colour scatter" in view.objects[1].object
    assert [x.settings.k for x in d.ladder_results()] == [256, 64, 16, 4, 2]
    name, gif = d.export("gif")
    with Image.open(io.BytesIO(gif)) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), r.image)
    assert "qfast palette" in d.rd_curves()
    assert "<h2>Palette</h2>" in d.export("report")[1].decode()


def test_wiring_codec_views(stand_ins, small):
    d = Dashboard()
    d.load_file("s.png", _file(Image.fromarray(small), "PNG"))
    d.max_error = 3
    res = d.codec_result()
    assert (
        res["plain"]["max_error"] <= 3
        and d.export("qfz")[1] == res["data"]
        and res["corrected"] is not None
        and res["bpp"] > 0
    )
    assert "qf-codec" in d._codec_view().objects[0].object
    name, data = d.export("qfz")
    assert name == "s-uniform-16.qfz" and qfast.decode(data).shape == small.shape
    assert d.load_file("back.qfz", data) and d.image.shape == small.shape
    broken = data[:-1] + bytes([data[-1] ^ 1])
    assert not d.load_file("broken.qfz", broken) and "broken.qfz: not a valid .qfz file (CRC mismatch" in d.message
    d.codec_mode = "levels"
    assert d.codec_result()["bytes"] > 0
    assert "qfast codec (bounded)" in d.rd_curves()


def test_wiring_corrector_views(stand_ins, small):
    d = Dashboard()
    d.load_file("s.png", _file(Image.fromarray(small), "PNG"))
    plain = d.result
    d.corrector = "int8"
    assert d.result.settings.uses_corrector and "corrector (int8)" in d._metrics.object
    assert not np.array_equal(d.result.image, plain.image)
    res = d.corrector_result()
    assert set(res) == {"midbin", "fp32", "int8"} and res["fp32"]["size"] == qfast.samples.path().stat().st_size
    assert "qf-corrector" in d._corrector_view().objects[0].object
    d.reconstruction = "full-range"  # the corrector expects mid-bin input, so it stays off here
    assert not d.result.settings.uses_corrector
