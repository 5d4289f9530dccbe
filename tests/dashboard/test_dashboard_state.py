"""The dashboard's state class without a browser: its results, caching, uploads, views and exports, and its wiring
of the palette, codec and corrector views."""

from __future__ import annotations

import asyncio
import io
import math
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.dashboard import codec, exports, quantization, rate_distortion, upload
from qfast.dashboard.settings import FEATURES, FeatureUnavailable, Settings, UploadError

pn = pytest.importorskip("panel", reason="the dashboard extra (panel) is needed for the state-class tests")
from qfast.dashboard import state  # noqa: E402
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
# Feature views: they run when the feature is in the build


@needs_palette
def test_palette_result_and_exports(img):
    s = Settings(method="palette", k=16)
    r = quantization.quantize(img, s)
    ref = qfast.quantize_colors(img, 16, dither="none", method="kmeans", seed=0, color_space="rgb")
    np.testing.assert_array_equal(r.image, ref.image())
    assert r.palette is not None and len(r.palette) <= 16
    assert r.packed_bytes == math.ceil(img.shape[0] * img.shape[1] * 4 / 8) + r.palette.size
    with Image.open(io.BytesIO(exports.export_bytes(r, "gif"))) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), r.image)
    d = Dashboard(method="palette", k=16)
    assert "qf-swatches" in str(d._palette_view().objects[0].object)
    assert "qfast palette" in rate_distortion.rate_distortion(img[:64, :64])


@needs_codec
def test_codec_roundtrip_and_qfz_upload(img):
    res = codec.codec_roundtrip(img, max_error=2)
    assert res["plain"]["max_error"] <= 2 and res["bpp"] > 0
    if res["corrected"] is not None:
        # The corrector moves values only where they stay within d of their whole bin: the bound holds.
        assert res["corrected"]["max_error"] <= 2
    out, _ = upload.load_upload("x.qfz", res["data"])
    np.testing.assert_array_equal(out, res["plain"]["image"])
    bad = bytearray(res["data"])
    bad[-1] ^= 0xFF
    with pytest.raises(UploadError, match="x.qfz"):
        upload.load_upload("x.qfz", bytes(bad))
    d = Dashboard()
    name, data = d.export("qfz")
    assert name.endswith(".qfz") and qfast.decode(data, correct=False).shape == img.shape


@needs_corrector
def test_corrector_comparison(img):
    crop = np.ascontiguousarray(img[:128, :192])
    res = codec.corrector_comparison(crop, 8)
    assert res["fp32"]["psnr"] > res["midbin"]["psnr"]
    assert res["int8"]["image"].shape == crop.shape
    r = quantization.quantize(crop, Settings(bits=3, corrector="int8"))
    assert r.settings.uses_corrector and r.psnr > res["midbin"]["psnr"]


# --------------------------------------------------------------------------------------------------------------
# The state class


def test_dashboard_defaults(img):
    d = Dashboard()
    assert d.source == "parrots" and d.settings() == Settings()
    np.testing.assert_array_equal(d.image, img)
    np.testing.assert_array_equal(d.result.image, qfast.quantize_uniform(img, 16))
    assert 'class="qf-metrics"' in d._metrics.object and d._swipe.after.startswith("data:image/png;base64,")
    assert d._swipe.before == exports.data_uri(img) and (d._swipe.image_width, d._swipe.image_height) == (768, 512)
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


def test_dashboard_caches_repeated_settings(monkeypatch):
    calls = []
    real = state.quantize
    monkeypatch.setattr(state, "quantize", lambda *a, **k: calls.append(a[1]) or real(*a, **k))
    d = Dashboard()
    first = d.result
    d.bits = 2
    n = len(calls)
    d.bits = 4
    assert d.result is first and len(calls) == n  # came from the cache, nothing recomputed
    d.param.update(method="lloyd-max", level_mode="levels", levels=7)
    assert d.result.settings.label() == "lloyd-max, 7 levels"
    n = len(calls)
    d.param.update(dither="atkinson", reconstruction="full-range")  # neither applies to Lloyd-Max
    assert len(calls) == n


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
    import qfast.dashboard.state as state

    monkeypatch.setattr(state, "MAX_SIDE", 100)
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
    # A download callback must return a file (None was a server traceback): a text file says what the page says.
    text = widget.callback().getvalue().decode()
    assert "export: result:" in d.message and text.startswith("qfast could not export this result as gif: result:")
    assert widget.filename == "parrots-uniform-256-gif-not-exported.txt"
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
# The dashboard's wiring of the palette, codec and corrector views, checked against small stand-ins that follow the
# documented signatures (issues 3, 4, 5). They test this module's code paths only, not those features: the real
# features are tested above and by this folder's other tests (and by their own tests) when the build has them.


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
    monkeypatch.setattr(quantization, "_CORRECTORS", {})


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
    assert "qfast codec + corrector" in d.rd_curves()


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
