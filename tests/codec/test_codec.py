"""The .qfz codec: round trips, the error bound, every header field, hostile files, golden files, the corrector hook."""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from qfz_bytes import reseal as _reseal

import qfast
from qfast import codec

EXPECTED = Path(__file__).parent.parent / "expected"
MAGIC = b"\x89QFZ"


def _synthetic(h: int, w: int, c: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = (x * 7 + y * 3) % 256
    chans = [(base + 60 * k + rng.integers(-6, 7, (h, w))) % 256 for k in range(max(c, 1))]
    img = np.stack(chans, axis=-1).astype(np.uint8)
    return img[..., 0] if c == 1 else img


def _photos() -> list[np.ndarray]:
    """The bundled photos (three Kodak images)."""
    return [qfast.samples.load(name) for name in qfast.samples.names()]


IMAGES = {
    "grey": _synthetic(33, 47, 1),
    "rgb": _synthetic(40, 31, 3, 1),
    "rgba": _synthetic(17, 29, 4, 2),
    "pixel": _synthetic(1, 1, 3, 3),
    "row": _synthetic(1, 50, 3, 4),
    "column": _synthetic(50, 1, 1, 5),
    "parrots": qfast.samples.load("parrots")[100:228, 200:392],
}


def _max_err(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(np.int16) - b.astype(np.int16)).max())


def _patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return _reseal(bytes(b))


# ---------------------------------------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("effort", [0, 1, 2, 3, 4])
def test_lossless_is_exact(name: str, effort: int) -> None:
    img = IMAGES[name]
    data = qfast.encode(img, max_error=0, effort=effort)
    out = qfast.decode(data)
    assert out.dtype == np.uint8 and out.shape == img.shape
    np.testing.assert_array_equal(out, img)


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("d", [1, 2, 4, 8, 17, 32])
@pytest.mark.parametrize("color", ["auto", "rgb"])
def test_bounded_never_exceeds_d(name: str, d: int, color: str) -> None:
    img = IMAGES[name]
    data = qfast.encode(img, max_error=d, color=color)
    assert _max_err(qfast.decode(data), img) <= d
    assert _max_err(qfast.decode(data, correct=False), img) <= d
    h = qfast.inspect(data)
    # one value bounds the colour channels; alpha is kept exactly unless given a bound of its own
    assert h["mode"] == "bounded" and h["max_error"] == [d] * min(h["channels"], 3) + [0] * (h["channels"] - 3)


@pytest.mark.slow
def test_bounded_on_photos() -> None:
    for img in _photos():
        np.testing.assert_array_equal(qfast.decode(qfast.encode(img, max_error=0)), img)
        for d in (1, 2, 4, 8):
            data = qfast.encode(img, max_error=d)
            assert _max_err(qfast.decode(data), img) <= d
            # The rate falls as d grows, and bounded coding beats 24 bpp by far.
            assert 8 * len(data) / (img.shape[0] * img.shape[1]) < 8


def test_per_channel_max_error() -> None:
    img = IMAGES["rgba"]
    out = qfast.decode(qfast.encode(img, max_error=[0, 3, 9, 1]))
    err = np.abs(out.astype(int) - img).reshape(-1, 4).max(axis=0)
    assert list(err <= [0, 3, 9, 1]) == [True] * 4
    assert err[0] == 0


@pytest.mark.parametrize("color", ["auto", "rgb", "ycocg"])
def test_levels_mode_is_uniform_midbin(color: str) -> None:
    img = IMAGES["rgb"]
    out = qfast.decode(qfast.encode(img, levels=[8, 16, 5], color=color), correct=False)
    np.testing.assert_array_equal(out, qfast.quantize_uniform(img, [8, 16, 5]))


@pytest.mark.parametrize("name", sorted(IMAGES))
@pytest.mark.parametrize("d", [1, 2, 4, 8, 32])
def test_fast_coder_keeps_the_bound(name: str, d: int) -> None:
    img = IMAGES[name]
    data = qfast.encode(img, max_error=d, effort=0)
    assert qfast.inspect(data)["coder"] == "loco" and qfast.inspect(data)["version"] == 6
    assert _max_err(qfast.decode(data, correct=False), img) <= d


@pytest.mark.parametrize("shape", [(101, 2100, 3), (101, 2100, 4), (67, 2049, 1), (3000, 23, 3)])
def test_fast_coder_in_many_stripes_decodes_as_qac(shape: tuple) -> None:
    """Wide or tall images are cut into several stripes, decoded in parallel into their bands of the output: the
    image must be what QAC (one piece) decodes, in every mode."""
    img = _synthetic(shape[0], shape[1], shape[2], 8)
    cases = [{"max_error": 0}, {"max_error": 2, "color": "rgb"}, {"levels": 8}]
    if shape[2] > 1:
        cases.append({"levels": 16, "subsample": True})
    for kw in cases:
        fast = qfast.decode(qfast.encode(img, effort=0, corrector=None, **kw))
        np.testing.assert_array_equal(fast, qfast.decode(qfast.encode(img, effort=2, corrector=None, **kw)), str(kw))


def test_fast_coder_output_does_not_depend_on_the_thread_count() -> None:
    img = _synthetic(300, 1500, 3, 9)  # 7 stripes
    before = qfast._core.thread_count()
    try:
        runs = []
        for n in (1, 2, 3):
            qfast._core.set_thread_count(n)
            data = qfast.encode(img, max_error=1, effort=0, corrector=None)
            runs.append((data, qfast.decode(data)))
    finally:
        qfast._core.set_thread_count(before)
    assert runs[0][0] == runs[1][0] == runs[2][0]
    for _, out in runs:
        np.testing.assert_array_equal(out, runs[0][1])


def test_fast_coder_beats_png_lossless() -> None:
    """An independent reference: Pillow's PNG at its strongest setting on the bundled photos."""
    from PIL import Image

    for img in _photos():
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="PNG", optimize=True)
        fast = qfast.encode(img, max_error=0, effort=0)
        assert len(fast) < 0.9 * len(buf.getvalue())  # 0.73, 0.77 and 0.86 of it


def test_levels_ycbcr_subsampled() -> None:
    img = IMAGES["parrots"]
    data = qfast.encode(img, levels=64, subsample=True)
    h = qfast.inspect(data)
    assert (h["color"], h["subsampling"]) == ("ycbcr", "4:2:0")
    out = qfast.decode(data)
    assert out.shape == img.shape and qfast.psnr(img, out) > 28
    assert len(data) < len(qfast.encode(img, levels=64, color="ycbcr"))


def test_target_bpp_picks_the_most_levels_within_budget() -> None:
    img = IMAGES["parrots"]
    npx = img.shape[0] * img.shape[1]
    small = qfast.inspect(qfast.encode(img, target_bpp=1.5))
    large = qfast.inspect(qfast.encode(img, target_bpp=4.0))
    assert small["bpp"] <= 1.5 and large["bpp"] <= 4.0
    assert large["levels"][0] > small["levels"][0]
    more = qfast.encode(img, levels=large["levels"][0] + 1)
    assert 8 * len(more) / npx > 4.0 or large["levels"][0] == 256


def test_target_bpp_with_ycbcr_gives_chroma_twice_the_levels() -> None:
    img = IMAGES["parrots"]
    npx = img.shape[0] * img.shape[1]
    h = qfast.inspect(qfast.encode(img, target_bpp=2.0, subsample=True))
    ly = h["levels"][0]
    assert h["bpp"] <= 2.0 and h["levels"] == [ly, min(256, 2 * ly), min(256, 2 * ly)]
    c = min(256, 2 * (ly + 1))
    more = qfast.encode(img, levels=[ly + 1, c, c], subsample=True)
    assert 8 * len(more) / npx > 2.0


def test_qac_beats_brotli() -> None:
    img = IMAGES["parrots"]
    for d in (0, 2):
        assert len(qfast.encode(img, max_error=d)) < len(qfast.encode(img, max_error=d, effort=1))


def test_save_load_inspect(tmp_path: Path) -> None:
    img = IMAGES["rgb"]
    p = tmp_path / "a.qfz"
    qfast.save(p, img, max_error=2)
    assert _max_err(qfast.load(p), img) <= 2
    h = qfast.inspect(p)
    assert h == qfast.inspect(p.read_bytes())
    assert (h["width"], h["height"], h["channels"], h["coder"]) == (31, 40, 3, "qac")
    assert h["file_bytes"] == p.stat().st_size
    with pytest.raises(FileExistsError, match="already exists"):
        qfast.save(p, img, max_error=2, overwrite=False)
    np.testing.assert_array_equal(qfast.decode(bytearray(p.read_bytes())), qfast.load(p))


def test_pil_input() -> None:
    from PIL import Image

    img = IMAGES["rgb"]
    np.testing.assert_array_equal(qfast.decode(qfast.encode(Image.fromarray(img), max_error=0)), img)


# ----------------------------------------------------------------------------------------------- the corrector's hook


class _FakeCorrector:
    """Stands in for qfast.Corrector: pushes values up by 3 in even columns and down by 3 in odd ones, clamped like
    the real one."""

    path = None
    calls: list = []

    def __init__(self, model: str = "default") -> None:
        self.model = model

    def correct(
        self, image: np.ndarray, levels, clamp: bool = False, max_error=None, out=None, strengths=None
    ) -> np.ndarray:
        type(self).calls.append((image.shape, list(levels), clamp, max_error))
        shift = np.where(np.arange(image.shape[1]) % 2, -3, 3)[None, :, None]
        res = np.clip(image.astype(np.int16) + shift, 0, 255)
        if clamp:
            lo, hi = _bins(image, levels)
            if max_error is not None:
                d = np.asarray(max_error).reshape(1, 1, -1)
                lo, hi = np.maximum(lo, hi.astype(np.int16) - d), np.minimum(hi, lo.astype(np.int16) + d)
            res = np.clip(res, lo, hi)
        if strengths is not None:  # like the real one: the strength map's blend per tile
            tile, codes = strengths
            per_px = np.kron(codes, np.ones((tile, tile), np.uint8))[: image.shape[0], : image.shape[1], None]
            res = codec.blend(image, res, per_px)
        if out is None:
            return res.astype(np.uint8)
        out[...] = res  # like the real one: into out (which may be image itself)
        return out


def _bins(rec: np.ndarray, levels) -> tuple[np.ndarray, np.ndarray]:
    lv = np.asarray(levels).reshape(1, 1, -1)
    idx = (rec.astype(np.int32) * lv) >> 8
    lo = -((-idx * 256) // lv)
    hi = ((idx + 1) * 256 - 1) // lv
    return lo.astype(np.uint8), hi.astype(np.uint8)


@pytest.fixture
def fake_corrector(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not really a model")
    _FakeCorrector.path = model
    _FakeCorrector.calls = []
    monkeypatch.setattr(qfast, "Corrector", _FakeCorrector, raising=False)
    yield _FakeCorrector


@pytest.mark.skipif(hasattr(qfast, "Corrector"), reason="a corrector is installed")
def test_no_corrector_installed_means_plain_decode() -> None:
    img = IMAGES["rgb"]
    data = qfast.encode(img, levels=8, corrector=None)
    assert qfast.inspect(data)["corrector"] is None
    np.testing.assert_array_equal(qfast.decode(data, correct=True), qfast.decode(data, correct=False))


def test_corrector_is_recorded_and_used_in_levels_mode(fake_corrector) -> None:
    img = IMAGES["rgba"]
    data = qfast.encode(img, levels=[8, 8, 4, 2], strength_map=False)  # the map's own tests: test_strength_map.py
    h = qfast.inspect(data)
    assert h["corrector"] == codec._file_id(str(fake_corrector.path)).hex()
    plain = qfast.decode(data, correct=False)
    fixed = qfast.decode(data)
    assert fake_corrector.calls == [((17, 29, 3), [8, 8, 4], True, None)]
    assert not np.array_equal(plain, fixed)
    np.testing.assert_array_equal(fixed[..., 3], plain[..., 3])
    lo, hi = _bins(plain[..., :3], [8, 8, 4])
    assert (fixed[..., :3] >= lo).all() and (fixed[..., :3] <= hi).all()


@pytest.mark.parametrize("d", [1, 2, 3, 8])
def test_corrector_keeps_the_bound_in_bounded_mode(fake_corrector, d: int) -> None:
    img = IMAGES["parrots"]
    data = qfast.encode(img, max_error=d, strength_map=False)  # the map's own tests: test_strength_map.py
    h = qfast.inspect(data)
    # With a corrector the bins are narrower than 2d + 1 (version 2), which leaves it a window in each bin.
    assert h["version"] == 2 and h["bins"] == "uniform" and h["max_error"] == [d] * 3
    assert all(256 / L < 2 * d + 1 and -(-256 // L) <= 2 * d + 1 for L in h["levels"])
    plain = qfast.decode(data, correct=False)
    fixed = qfast.decode(data)
    assert [c[1:] for c in fake_corrector.calls] == [(h["levels"], True, [d] * 3)]
    assert _max_err(plain, img) <= d and _max_err(fixed, img) <= d
    assert (fixed != plain).any(), "the corrector had no room"


def test_alpha_gets_the_fewest_uniform_levels_that_keep_the_bound(fake_corrector) -> None:
    img = IMAGES["rgba"]
    for d in (1, 2, 5):
        data = qfast.encode(img, max_error=[d] * 4)  # one value per channel: alpha's bound given explicitly
        h = qfast.inspect(data)
        alpha = h["levels"][3]
        # the widest of L uniform bins holds ceil(256 / L) values: alpha's L is the smallest with at most 2d + 1
        assert -(-256 // alpha) <= 2 * d + 1 < -(-256 // (alpha - 1))
        assert all(L > alpha for L in h["levels"][:3])
        assert _max_err(qfast.decode(data), img) <= d


def test_bounded_without_corrector_uses_step_bins(fake_corrector) -> None:
    img = IMAGES["parrots"]
    data = qfast.encode(img, max_error=2, corrector=None)
    h = qfast.inspect(data)
    assert (h["version"], h["bins"], h["levels"]) == (1, "step", [52] * 3)
    # Bins of 2d + 1 values leave no room: even when forced, decode does not run the corrector.
    np.testing.assert_array_equal(qfast.decode(data, correct=True), qfast.decode(data, correct=False))
    assert fake_corrector.calls == []
    assert len(data) < len(qfast.encode(img, max_error=2))
    # Lossless needs every level, and the corrector works on colour images only: step bins, version 1.
    assert qfast.inspect(qfast.encode(img, max_error=0))["version"] == 1
    assert qfast.inspect(qfast.encode(IMAGES["grey"], max_error=2))["bins"] == "step"


def test_ycbcr420_files_use_the_ycbcr_model(fake_corrector) -> None:
    img = IMAGES["parrots"]
    data = qfast.encode(img, levels=[8, 16, 12], subsample=True, strength_map=False)  # the map: test_strength_map.py
    assert qfast.inspect(data)["corrector"] == codec._file_id(str(fake_corrector.path)).hex()
    plain = qfast.decode(data, correct=False)
    fixed = qfast.decode(data)
    # the YCbCr model gets the file's Y, Cb, Cr levels and no RGB bins to keep
    assert fake_corrector.calls == [(img.shape, [8, 16, 12], False, None)]
    assert not np.array_equal(plain, fixed)
    assert codec._corrector_of(fake_corrector, "ycbcr420").model == "ycbcr420"
    # YCbCr without subsampling: no shipped model undoes it, so the file names none
    full = qfast.encode(img, levels=8, color="ycbcr")
    assert qfast.inspect(full)["corrector"] is None
    np.testing.assert_array_equal(qfast.decode(full, correct=True), qfast.decode(full, correct=False))


def test_mismatched_corrector_is_not_used(fake_corrector) -> None:
    data = qfast.encode(IMAGES["rgb"], levels=8, corrector="0123456789abcdef")
    with pytest.warns(UserWarning, match="corrector 0123456789abcdef"):
        out = qfast.decode(data)
    np.testing.assert_array_equal(out, qfast.decode(data, correct=False))


# ------------------------------------------------------------------------------------------------------ bad arguments


@pytest.mark.parametrize(
    ("kwargs", "exc", "match"),
    [
        ({}, TypeError, "exactly one of max_error, levels or target_bpp"),
        ({"max_error": 1, "levels": 4}, TypeError, "exactly one"),
        ({"max_error": 33}, ValueError, r"max_error: expected 0\.\.32, got 33"),
        ({"max_error": -1}, ValueError, "max_error: expected 0..32, got -1"),
        ({"max_error": 1.5}, TypeError, "max_error: expected an int"),
        ({"max_error": [1, 2]}, ValueError, r"max_error: expected one value per channel \(3\)"),
        ({"levels": 1}, ValueError, "levels: expected 2..256, got 1"),
        ({"levels": 257}, ValueError, "levels: expected 2..256"),
        ({"target_bpp": 0}, ValueError, "target_bpp: expected a positive number"),
        ({"max_error": 1, "color": "hsv"}, ValueError, "color: expected"),
        ({"max_error": 1, "color": "ycbcr"}, ValueError, "color: 'ycbcr' is not exact"),
        ({"max_error": 1, "subsample": True}, ValueError, "subsample: only in levels mode"),
        ({"levels": 8, "subsample": True, "color": "ycocg"}, ValueError, "subsample: needs color='ycbcr'"),
        ({"levels": 8, "subsample": 1}, TypeError, "subsample: expected a bool"),
        ({"max_error": 1, "effort": -1}, ValueError, "effort: expected 0..4"),
        ({"max_error": 1, "effort": 5}, ValueError, "effort: expected 0..4"),
        ({"max_error": 1, "corrector": "xyz"}, ValueError, "corrector: expected"),
    ],
)
def test_bad_options(kwargs: dict, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        qfast.encode(IMAGES["rgb"], **kwargs)


@pytest.mark.parametrize(
    ("image", "exc", "match"),
    [
        (np.zeros((4, 4, 3), np.float32), TypeError, "image: expected dtype uint8, got float32"),
        (np.zeros((4, 4, 3), np.uint16), TypeError, "image: expected dtype uint8"),
        (np.zeros((4, 4, 2), np.uint8), ValueError, r"image: expected shape \(H, W\), \(H, W, 3\) or \(H, W, 4\)"),
        (np.zeros((4, 4, 5), np.uint8), ValueError, "image: expected shape"),
        (np.zeros((4,), np.uint8), ValueError, "image: expected shape"),
        (np.zeros((0, 4, 3), np.uint8), ValueError, "image: expected a non-empty image"),
        ([[1, 2]], TypeError, "image: expected a NumPy uint8 array or a PIL image, got list"),
    ],
)
def test_bad_images(image, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        qfast.encode(image, max_error=1)


def test_grey_refuses_subsampling() -> None:
    with pytest.raises(ValueError, match="subsample: needs a colour image"):
        qfast.encode(IMAGES["grey"], levels=8, subsample=True)


def test_decode_bad_arguments() -> None:
    data = qfast.encode(IMAGES["pixel"], max_error=0)
    with pytest.raises(TypeError, match="data: expected bytes, got str"):
        qfast.decode("abc")
    with pytest.raises(TypeError, match="correct: expected a bool or None"):
        qfast.decode(data, correct="yes")
    with pytest.raises(ValueError, match="max_pixels: expected 1"):
        qfast.decode(data, max_pixels=0)


# --------------------------------------------------------------------------------------------- header field checks


def _file(**kw) -> bytes:
    return qfast.encode(IMAGES["rgb"], **(kw or {"max_error": 1, "corrector": None}))


# (offset, struct format, value, message) for a 3-channel version-1 file: each field set to a bad value, CRCs
# resealed.
FIELDS = [
    (0, "<I", 0x474E5089, "not a .qfz file \\(bad magic\\)"),
    (4, "<H", 0, "unsupported .qfz version 0"),
    (4, "<H", 7, "unsupported .qfz version 7 \\(this qfast reads versions 1..6\\)"),
    (4, "<H", 65535, "unsupported .qfz version 65535"),
    (6, "<H", 52, "header length 52 does not match 3 channels"),
    (6, "<H", 20, "header length 20 too small"),
    (8, "<I", 0, "bad dimensions 0 x 40"),
    (12, "<I", 0, "bad dimensions 31 x 0"),
    (8, "<I", 1 << 23, "8388608 x 40 = 335544320 pixels, more than the limit of 178956970"),
    (16, "<B", 2, "bad channel count 2"),
    (16, "<B", 4, "header length 56 does not match 4 channels"),
    (17, "<B", 2, "unknown mode id 2"),
    (18, "<B", 3, "unknown colour transform id 3"),
    (18, "<B", 2, "YCbCr is only valid in levels mode"),
    (19, "<B", 1, "chroma subsampling without YCbCr"),
    (19, "<B", 7, "unknown subsampling id 7"),
    (20, "<B", 0, "unknown predictor id 0"),
    (20, "<B", 2, "unknown predictor id 2"),
    (21, "<B", 0, "unknown entropy coder id 0"),
    (21, "<B", 3, "the QAC2 coder is only valid from version 3 on"),
    (21, "<B", 4, "the QAC3 coder is only valid from version 5 on"),
    (21, "<B", 5, "the LOCO coder is only valid from version 6 on"),
    (21, "<B", 6, "unknown entropy coder id 6"),
    (22, "<B", 1, "unknown flags 0x01 / reserved byte 0x00 for version 1"),
    (23, "<B", 1, "reserved byte 0x01"),
    (32, "<H", 85, "channel 0: 85 levels do not match max error 1"),
    (34, "<B", 33, "channel 0: max error 33 out of range 0..32"),
    (35, "<B", 1, "channel 0: reserved byte is not zero"),
    (42, "<B", 2, "channel 2: 86 levels do not match max error 2"),
    (44, "<Q", 1 << 40, "file ends inside the payload"),
    (44, "<Q", 1, "trailing bytes after the payload"),
]


@pytest.mark.parametrize(("offset", "fmt", "value", "match"), FIELDS)
def test_every_header_field_is_checked(offset: int, fmt: str, value: int, match: str) -> None:
    with pytest.raises(qfast.FormatError, match=match):
        qfast.decode(_patch(_file(), offset, fmt, value))
    with pytest.raises(qfast.FormatError, match=match):
        qfast.inspect(_patch(_file(), offset, fmt, value))


# The same for a version-2 file: bounded mode on uniform bins (99 levels for max error 1).
FIELDS_V2 = [
    (4, "<H", 1, "unknown flags 0x01 / reserved byte 0x00 for version 1"),
    (17, "<B", 1, "uniform bins are only valid in bounded mode"),
    (22, "<B", 0, "channel 0: 99 levels do not match max error 1"),
    (22, "<B", 3, "unknown flags 0x03"),
    (32, "<H", 85, "channel 0: 85 uniform levels cannot keep max error 1"),
    (32, "<H", 257, "channel 0: 257 uniform levels cannot keep max error 1"),
    (42, "<B", 0, "channel 2: 99 uniform levels cannot keep max error 0"),
]


@pytest.mark.parametrize(("offset", "fmt", "value", "match"), FIELDS_V2)
def test_every_version_2_field_is_checked(offset: int, fmt: str, value: int, match: str) -> None:
    data = _file(max_error=1, corrector="0123456789abcdef")
    assert qfast.inspect(data)["levels"] == [99] * 3
    with pytest.raises(qfast.FormatError, match=match):
        qfast.decode(_patch(data, offset, fmt, value), correct=False)


@pytest.mark.parametrize(
    ("offset", "value", "match"),
    [
        (32, 1, "channel 0: levels 1 out of range 2..256"),
        (32, 257, "levels 257 out of range"),
        (34, 9, "channel 0: max error 9 does not match 8 levels"),
    ],
)
def test_levels_mode_fields(offset: int, value: int, match: str) -> None:
    data = _file(levels=8)
    fmt = "<H" if offset == 32 else "<B"
    with pytest.raises(qfast.FormatError, match=match):
        qfast.decode(_patch(data, offset, fmt, value))


def test_colour_on_grey_is_refused() -> None:
    data = qfast.encode(IMAGES["grey"], max_error=1)
    with pytest.raises(qfast.FormatError, match="a colour transform on a one-channel image"):
        qfast.decode(_patch(data, 18, "<B", 1))


def test_crc_mismatch_names_the_part() -> None:
    data = bytearray(_file())
    bad = bytearray(data)
    bad[9] ^= 1
    with pytest.raises(qfast.FormatError, match="header CRC mismatch"):
        qfast.decode(bytes(bad))
    bad = bytearray(data)
    bad[70] ^= 0x10
    with pytest.raises(qfast.FormatError, match="payload CRC mismatch"):
        qfast.decode(bytes(bad))


def test_pixel_limit_is_configurable() -> None:
    data = _file()
    assert qfast.decode(data, max_pixels=31 * 40).shape == (40, 31, 3)
    with pytest.raises(qfast.FormatError, match="31 x 40 = 1240 pixels, more than the limit of 1239"):
        qfast.decode(data, max_pixels=31 * 40 - 1)


@pytest.mark.parametrize("effort", [0, 2])
def test_huge_claim_with_a_tiny_payload_fails_fast(effort: int) -> None:
    # 2^28 pixels claimed, a few bytes of payload: refused without decoding (or allocating) the whole image.
    data = qfast.encode(IMAGES["pixel"], max_error=0, effort=effort)
    data = _patch(_patch(data, 8, "<I", 1 << 14), 12, "<I", 1 << 14)
    with pytest.raises(qfast.FormatError, match="truncated|stream|too short"):
        qfast.decode(data, max_pixels=1 << 28)  # a limit that lets the claim through to the decoder
    with pytest.raises(qfast.FormatError, match="more than the limit of 178956970"):
        qfast.decode(data)  # the default limit refuses it at the header


def test_is_a_value_error() -> None:
    assert issubclass(qfast.FormatError, ValueError)
    with pytest.raises(ValueError):
        qfast.decode(b"nope")


# ------------------------------------------------------------------------------------------------- hostile files


@pytest.mark.parametrize("effort", [0, 1, 2])
def test_every_truncation_is_a_format_error(effort: int) -> None:
    data = qfast.encode(IMAGES["row"], max_error=1, effort=effort)
    for n in range(len(data)):
        with pytest.raises(qfast.FormatError):
            qfast.decode(data[:n])


@pytest.mark.parametrize("effort", [0, 1, 2])
def test_every_bit_flip_is_a_format_error(effort: int) -> None:
    data = qfast.encode(IMAGES["row"], levels=7, effort=effort)
    for i in range(len(data)):
        for bit in range(8):
            bad = bytearray(data)
            bad[i] ^= 1 << bit
            with pytest.raises(qfast.FormatError):
                qfast.decode(bytes(bad))


def _decode_or_format_error(data: bytes) -> None:
    try:
        with warnings.catch_warnings():
            # a changed corrector id is a valid file that names another model: decode warns and goes on without it
            warnings.filterwarnings("ignore", "the file names corrector", UserWarning)
            out = qfast.decode(data, max_pixels=1 << 16)
    except qfast.FormatError:
        return
    assert out.dtype == np.uint8 and out.size <= 4 << 16


@settings(
    max_examples=int(os.environ.get("QFAST_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(st.binary(max_size=400))
def test_random_bytes_never_crash(data: bytes) -> None:
    with pytest.raises(qfast.FormatError):
        qfast.decode(data)
    with pytest.raises(qfast.FormatError):
        qfast.decode(MAGIC + b"\x01\x00" + data)


@settings(
    max_examples=int(os.environ.get("QFAST_FUZZ_EXAMPLES", "300")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(
    st.sampled_from(["bounded", "levels", "brotli", "ycbcr", "loco"]),
    st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), min_size=1, max_size=6),
)
def test_mutated_files_with_valid_crcs_never_crash(kind: str, edits: list) -> None:
    img = IMAGES["rgba"] if kind != "ycbcr" else IMAGES["rgb"]
    opts = {
        "bounded": {"max_error": 2},
        "levels": {"levels": 9},
        "brotli": {"max_error": 1, "effort": 1},
        "ycbcr": {"levels": 16, "subsample": True},
        "loco": {"max_error": 1, "effort": 0},
    }[kind]
    data = bytearray(qfast.encode(img, **opts))
    for pos, val in edits:
        data[pos % len(data)] = val
    _decode_or_format_error(_reseal(bytes(data)))


# --------------------------------------------------------------------------------------------------- golden files

GOLDEN = {
    "lossless-rgb": (lambda: IMAGES["parrots"][:24, :32], {"max_error": 0}),
    "bounded2-rgba": (lambda: IMAGES["rgba"], {"max_error": [2, 2, 2, 2]}),
    "bounded4-grey-brotli": (lambda: IMAGES["grey"], {"max_error": 4, "effort": 1}),
    "bounded3-uniform-v2": (lambda: IMAGES["parrots"][:24, :32], {"max_error": 3, "corrector": "00112233445566ff"}),
    "levels8-rgb": (lambda: IMAGES["parrots"][:24, :32], {"levels": [8, 8, 4]}),
    "levels32-ycbcr420": (lambda: IMAGES["parrots"][:24, :33], {"levels": 32, "subsample": True}),
    "loco-lossless-rgb": (lambda: IMAGES["parrots"][:24, :32], {"max_error": 0, "effort": 0}),
    # 2048 x 35: two stripes, of 32 rows and 3.
    "loco-bounded2-grey-stripes": (lambda: _synthetic(35, 2048, 1, 6), {"max_error": 2, "effort": 0}),
}


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_files(name: str) -> None:
    """The bytes of each file are pinned: a change to the format or the coder shows here (and old files must stay
    readable: a new version keeps decoding these)."""
    make, opts = GOLDEN[name]
    img = make()
    data = qfast.encode(img, **{"corrector": None, **opts})
    path = EXPECTED / f"codec-{name}.qfz"
    pixels = EXPECTED / f"codec-{name}.npy"
    if os.environ.get("GENERATE_EXPECTED"):
        EXPECTED.mkdir(exist_ok=True)
        path.write_bytes(data)
        np.save(pixels, qfast.decode(data, correct=False))
    assert data == path.read_bytes(), f"{name}: the encoder's output changed (GENERATE_EXPECTED=1 to accept)"
    np.testing.assert_array_equal(qfast.decode(path.read_bytes(), correct=False), np.load(pixels))


def test_default_pixel_limit_is_no_looser_than_pillows() -> None:
    from PIL import Image

    assert qfast.codec.DEFAULT_MAX_PIXELS <= 2 * Image.MAX_IMAGE_PIXELS  # Pillow's DecompressionBombError threshold
