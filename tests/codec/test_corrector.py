"""The QANN corrector at run time (onnxruntime): gain on Kodak crops, clamping, tiling, providers, bad input."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import qfast
from conftest import DATA, photo_crop
from qfast import corrector as qc

MODELS = Path(qc.__file__).resolve().parent / "models"


@pytest.fixture(scope="module")
def corrector() -> qfast.Corrector:
    return qfast.Corrector(providers=["CPUExecutionProvider"])


def synthetic(h: int, w: int, seed: int = 0) -> np.ndarray:
    """A smooth colour gradient with some texture: enough structure for the corrector to change it."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    base = np.stack([xx / max(w - 1, 1), yy / max(h - 1, 1), (xx + yy) / max(h + w - 2, 1)], axis=-1)
    img = 255 * base + 12 * np.sin(xx[..., None] / 7 + np.arange(3)) + rng.normal(0, 3, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def expected_bins(q: np.ndarray, levels: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Bin i of L: ceil(256 i / L) .. ceil(256 (i + 1) / L) - 1, computed here independently of the package."""
    lo = np.empty(q.shape, np.int64)
    hi = np.empty(q.shape, np.int64)
    for c, L in enumerate(levels):
        i = q[..., c].astype(np.int64) * L // 256
        lo[..., c] = -(-256 * i // L)
        hi[..., c] = -(-256 * (i + 1) // L) - 1
    return lo, hi


# Crops of the bundled photos (Kodak 3, 20 and 23): faces, sky, fabric, feathers.
CROPS = [("hats", 100, 300), ("plane", 200, 200), ("hats", 300, 40), ("parrots", 150, 380)]


@pytest.mark.parametrize("levels", [4, 8, 16, 32, 64, [8, 16, 4]])
def test_improves_psnr_on_photo_crops(corrector: qfast.Corrector, levels) -> None:
    gains = []
    for name, y, x in CROPS:
        img = photo_crop(name, y, x)
        mid = qfast.quantize_uniform(img, levels)  # the mid-bin reconstruction: the baseline
        out = corrector.correct(mid, levels)
        gains.append(qfast.psnr(img, out) - qfast.psnr(img, mid))
    assert np.mean(gains) > 0.1, gains


@pytest.mark.parametrize("levels", [2, 3, [4, 7, 64], [5, 16, 200], 64])
def test_clamp_keeps_every_pixel_in_its_bin(corrector: qfast.Corrector, levels) -> None:
    img = synthetic(70, 90, seed=1)
    lv = levels if isinstance(levels, list) else [levels] * 3
    mid = qfast.quantize_uniform(img, levels)
    out = corrector.correct(mid, levels, clamp=True)
    lo, hi = expected_bins(mid, lv)
    assert out.dtype == np.uint8 and out.shape == img.shape
    assert ((out >= lo) & (out <= hi)).all()
    # so the plain quantizer's maximum error still holds
    assert np.abs(out.astype(int) - img).max() <= max(-(-256 // L) - 1 for L in lv)
    # and the original is in the same bin as the mid-bin value
    assert ((img >= lo) & (img <= hi)).all()


@pytest.mark.parametrize(("levels", "d"), [(59, 2), (33, 4), ([18, 20, 17], 8), ([40, 9, 64], [3, 14, 2])])
def test_max_error_keeps_the_bound_whatever_the_original(corrector: qfast.Corrector, levels, d) -> None:
    img = photo_crop("hats", 200, 200, 96)
    lv = levels if isinstance(levels, list) else [levels] * 3
    dv = np.array(d if isinstance(d, list) else [d] * 3)
    mid = qfast.quantize_uniform(img, levels)
    out = corrector.correct(mid, levels, max_error=d)
    lo, hi = expected_bins(mid, lv)
    # Every value of the bin, not only the original, stays within d of the output.
    assert (out.astype(int) - lo <= dv).all() and (hi.astype(int) - out <= dv).all()
    assert (np.abs(out.astype(int) - img) <= dv).all()
    assert not np.array_equal(out, mid), "the window left the corrector no room"


def test_max_error_needs_bins_narrow_enough(corrector: qfast.Corrector) -> None:
    mid = qfast.quantize_uniform(synthetic(16, 16), 51)
    with pytest.raises(ValueError, match="max_error: 51 levels have bins of 6 values, too wide for max_error 2"):
        corrector.correct(mid, 51, max_error=2)
    with pytest.raises(TypeError, match="max_error: expected an int"):
        corrector.correct(mid, 51, max_error=2.5)


def test_levels_above_64_pass_through(corrector: qfast.Corrector) -> None:
    img = synthetic(48, 64)
    mid = qfast.quantize_uniform(img, [4, 128, 256])
    out = corrector.correct(mid, [4, 128, 256])
    np.testing.assert_array_equal(out[..., 1:], mid[..., 1:])
    assert not np.array_equal(out[..., 0], mid[..., 0])
    np.testing.assert_array_equal(corrector.correct(mid, 200), mid)


TILE, OVERLAP = 256, 128


def test_tiling_matches_one_pass() -> None:
    """Four overlapping tiles against one pass: within 1 grey level except a few values (at most 1 in 10,000, off
    by 2), which self-attention over a tile instead of the whole image accounts for."""
    img = np.asarray(Image.open(DATA / "kodim05-crop.png").convert("RGB"))  # (300, 290): a face, a wall, motorbikes
    mid = qfast.quantize_uniform(img, 8)
    one = qfast.Corrector(providers=["CPUExecutionProvider"]).correct(mid, 8)  # fits one 768 tile
    tiled = qfast.Corrector(providers=["CPUExecutionProvider"], tile=TILE, overlap=OVERLAP).correct(mid, 8)
    diff = np.abs(one.astype(int) - tiled)
    assert diff.max() <= 2 and (diff > 1).mean() <= 1e-4, (diff.max(), (diff > 1).mean())
    # an image that fits one tile takes exactly one pass
    np.testing.assert_array_equal(qfast.Corrector(providers=["CPUExecutionProvider"], tile=304).correct(mid, 8), one)


@pytest.mark.parametrize("shape", [(37, 53), (1, 1), (9, 300), (301, 517)])
def test_any_size(shape: tuple[int, int]) -> None:
    c = qfast.Corrector(providers=["CPUExecutionProvider"], tile=128, overlap=32)
    img = synthetic(*shape)
    mid = qfast.quantize_uniform(img, 16)
    out = c.correct(mid, 16, clamp=True)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_weights_of_overlapping_tiles_sum_to_one() -> None:
    for size, tile, overlap in [(700, 256, 32), (1000, 128, 64), (257, 256, 0), (300, 256, 16)]:
        total = np.zeros(size)
        for start, w in qc._axis_weights(size, tile, overlap):
            total[start : start + len(w)] += w
        np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_tile_layout_keeps_the_budget_and_beats_square_tiles() -> None:
    """Every layout: tiles of at most tile x tile pixels, sides at most 2 x tile and on the stride (or the whole
    axis), covering the image with weights summing to 1; one pass within the budget; and above it never more pixels
    through the network than the square tiles of the same budget (the layout before)."""

    def square_cost(h: int, w: int, tile: int, overlap: int) -> int:
        n = [1 if s <= tile else len(range(0, s - tile, tile - overlap)) + 1 for s in (h, w)]
        return n[0] * n[1] * min(tile, h) * min(tile, w)

    rng = np.random.default_rng(5)
    cases = [(656, 1024, 768, 64), (864, 1280, 768, 64), (512, 768, 768, 64), (4000, 16, 64, 32)]
    cases += [
        (16 * int(rng.integers(4, 200)), 16 * int(rng.integers(4, 200)), 16 * int(rng.integers(4, 50)), 0)
        for _ in range(200)
    ]
    for h, w, tile, overlap in cases:
        overlap = overlap or 16 * int(rng.integers(0, tile // 32 + 1))
        th, tw = qc._tile_sides(h, w, tile, overlap)
        assert th * tw <= tile * tile or (th, tw) == (min(tile, h), min(tile, w)), (h, w, tile, overlap, th, tw)
        assert th <= 2 * tile and tw <= 2 * tile and th <= h and tw <= w
        assert (th == h or th % 16 == 0) and (tw == w or tw % 16 == 0)
        rows, cols = qc._axis_weights(h, th, overlap), qc._axis_weights(w, tw, overlap)
        for size, tiles in ((h, rows), (w, cols)):
            total = np.zeros(size)
            for start, wt in tiles:
                assert start % 16 == 0 or start + len(wt) == size
                total[start : start + len(wt)] += wt
            np.testing.assert_allclose(total, 1.0, atol=1e-6)
        if h * w > tile * tile or max(h, w) > 2 * tile:
            assert len(rows) * len(cols) * th * tw <= square_cost(h, w, tile, overlap)
        else:
            assert (th, tw, len(rows), len(cols)) == (h, w, 1, 1)  # within the budget: one pass
    assert qc._tile_sides(656, 1024, 768, 64) == (656, 544)  # 1.06x its pixels; square tiles: 1.5x
    assert qc._tile_sides(512, 768, 768, 64) == (512, 768)  # within the budget: one pass


@pytest.mark.parametrize("levels", [[6, 12, 12], [12, 24, 24], [24, 48, 48], [40, 80, 80], [96, 192, 192]])
def test_ycbcr420_model_improves_the_codecs_levels_mode(levels: list[int]) -> None:
    c = qfast.Corrector("ycbcr420", providers=["CPUExecutionProvider"])
    assert c.quantizer == "ycbcr420"
    gains = []
    for name, y, x in CROPS:
        img = photo_crop(name, y, x)
        data = qfast.encode(img, levels=levels, subsample=True, corrector=None)
        plain = qfast.decode(data, correct=False)  # YCbCr 4:2:0 mid-bin, upsampled, back in RGB: the baseline
        gains.append(qfast.psnr(img, c.correct(plain, levels)) - qfast.psnr(img, plain))
    assert np.mean(gains) > 0.3, gains


def test_codec_decodes_ycbcr420_files_through_the_ycbcr_model() -> None:
    img = photo_crop("hats", 200, 200)
    data = qfast.encode(img, levels=[12, 24, 24], subsample=True)
    ycbcr_id = hashlib.sha256(qc.model_path("ycbcr420").read_bytes()).hexdigest()[:16]
    assert qfast.inspect(data)["corrector"] == ycbcr_id
    plain = qfast.decode(data, correct=False)
    assert qfast.psnr(img, qfast.decode(data)) > qfast.psnr(img, plain) + 0.3
    # files written before the YCbCr model named the RGB one, which does not apply: decoded plain, no warning
    rgb_id = hashlib.sha256(qc.model_path("default").read_bytes()).hexdigest()[:16]
    old = qfast.encode(img, levels=[12, 24, 24], subsample=True, corrector=rgb_id)
    np.testing.assert_array_equal(qfast.decode(old), plain)


def test_codec_decodes_files_of_the_earlier_rgb_model_with_it() -> None:
    img = photo_crop("parrots", 150, 380)
    v1_id = hashlib.sha256(qc.model_path("rgb-v1").read_bytes()).hexdigest()[:16]
    default_id = hashlib.sha256(qc.model_path("default").read_bytes()).hexdigest()[:16]
    assert v1_id != default_id
    new = qfast.encode(img, levels=8)
    assert qfast.inspect(new)["corrector"] == default_id  # encode records the current default
    old = qfast.encode(img, levels=8, corrector=v1_id)  # as written before the default changed
    plain = qfast.decode(old, correct=False)
    levels = [int(v) for v in qfast.inspect(old)["levels"][:3]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a shipped model: no warning
        decoded = qfast.decode(old)
    v1 = qfast.Corrector("rgb-v1", providers=["CPUExecutionProvider"]).correct(plain, levels, clamp=True)
    np.testing.assert_array_equal(decoded, v1)
    assert qfast.psnr(img, decoded) > qfast.psnr(img, plain) + 0.3
    assert not np.array_equal(qfast.decode(new), decoded)  # the new default is another model


def test_ycbcr420_model_refuses_rgb_bins() -> None:
    c = qfast.Corrector("ycbcr420", providers=["CPUExecutionProvider"])
    mid = qfast.quantize_uniform(synthetic(32, 32), 8)
    for kwargs in ({"clamp": True}, {"max_error": 20}):
        with pytest.raises(ValueError, match="clamp: a 'ycbcr420' model"):
            c.correct(mid, 8, **kwargs)
    np.testing.assert_array_equal(c.correct(mid, [129, 8, 8]), mid)  # more luma levels than trained: unchanged
    assert qfast.Corrector("default").quantizer == qfast.Corrector("int8").quantizer == "rgb"


def test_int8_model_close_to_fp32() -> None:
    img = synthetic(96, 128, seed=3)
    mid = qfast.quantize_uniform(img, 8)
    a = qfast.Corrector("default", providers=["CPUExecutionProvider"]).correct(mid, 8)
    b = qfast.Corrector("int8", providers=["CPUExecutionProvider"]).correct(mid, 8)
    assert abs(qfast.psnr(img, a) - qfast.psnr(img, b)) < 0.3


@pytest.mark.parametrize("levels", [8, 32, 64])
def test_int8_model_within_0_3_db_of_fp32_on_photo_crops(levels: int) -> None:
    fp32 = qfast.Corrector("default", providers=["CPUExecutionProvider"])
    int8 = qfast.Corrector("int8", providers=["CPUExecutionProvider"])
    losses = []
    for name, y, x in CROPS:
        img = photo_crop(name, y, x)
        mid = qfast.quantize_uniform(img, levels)
        losses.append(qfast.psnr(img, fp32.correct(mid, levels)) - qfast.psnr(img, int8.correct(mid, levels)))
    assert np.mean(losses) < 0.3, losses
    assert qfast.psnr(img, int8.correct(mid, levels)) > qfast.psnr(img, mid) + 0.5  # and it still corrects


def test_session_created_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime as ort

    c = qfast.Corrector(providers=["CPUExecutionProvider"])
    session = c.session
    calls = []
    monkeypatch.setattr(ort, "InferenceSession", lambda *a, **k: calls.append(a))
    mid = qfast.quantize_uniform(synthetic(40, 40), 8)
    c.correct(mid, 8)
    c.correct(qfast.quantize_uniform(synthetic(40, 40), [8, 8, 4]), [8, 8, 4])  # the levels it was quantized with
    assert calls == [] and c.session is session


def test_shipped_models_named_by_hash_and_listed() -> None:
    manifest = json.loads((MODELS / "manifest.json").read_text())
    assert manifest["levels"] == [2, 64]
    assert set(manifest["models"]) == set(qc.SHIPPED)
    for key in qc.SHIPPED:
        path = MODELS / manifest["models"][key]["file"]
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert path.stem.endswith(digest[:12])
        assert path.stat().st_size <= 8_000_000
    assert set(manifest["kodak"]) == {"4", "8", "16", "32", "64"}


# providers


def test_provider_order() -> None:
    have = ["CPUExecutionProvider", "CoreMLExecutionProvider", "CUDAExecutionProvider", "AzureExecutionProvider"]
    assert qc.select_providers(None, have) == [
        "CUDAExecutionProvider",
        "CoreMLExecutionProvider",
        "CPUExecutionProvider",
    ]
    assert qc.select_providers(None, ["CPUExecutionProvider"]) == ["CPUExecutionProvider"]
    assert qc.select_providers(["CPUExecutionProvider"], have) == ["CPUExecutionProvider"]


def test_default_providers_are_available_ones() -> None:
    import onnxruntime as ort

    c = qfast.Corrector()
    assert c.providers[-1] == "CPUExecutionProvider"
    assert set(c.providers) <= set(ort.get_available_providers())
    assert qc.available_providers()[-1] == "CPUExecutionProvider"


def test_missing_provider_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"providers: \['NoSuchExecutionProvider'\] not available"):
        qfast.Corrector(providers=["NoSuchExecutionProvider"])
    with pytest.raises(ValueError, match="providers: an empty list"):
        qfast.Corrector(providers=[])
    with pytest.raises(TypeError, match="providers: expected a list"):
        qfast.Corrector(providers="CPUExecutionProvider")


# bad input


def test_bad_images(corrector: qfast.Corrector) -> None:
    with pytest.raises(TypeError, match="image: expected dtype uint8, got float32"):
        corrector.correct(np.zeros((8, 8, 3), np.float32), 8)
    with pytest.raises(TypeError, match="image: expected a NumPy uint8 array"):
        corrector.correct([[0, 0, 0]], 8)
    with pytest.raises(ValueError, match=r"image: expected shape \(H, W\) or \(H, W, C\) with C in 1..4"):
        corrector.correct(np.zeros((8, 8, 5), np.uint8), 8)
    with pytest.raises(ValueError, match=r"image: expected a non-empty image, got shape \(0, 8, 3\)"):
        corrector.correct(np.zeros((0, 8, 3), np.uint8), 8)
    with pytest.raises(TypeError, match="clamp: expected a bool"):
        corrector.correct(np.zeros((8, 8, 3), np.uint8), 8, clamp=1)


@pytest.mark.parametrize(
    ("levels", "exc", "match"),
    [
        (1, ValueError, "levels: expected 2..256, got 1"),
        (257, ValueError, "levels: expected 2..256, got 257"),
        ([4, 4], ValueError, r"levels: expected one value per channel \(3\), got 2"),
        ([4, 4, 1], ValueError, "levels: expected 2..256, got 1"),
        ("8", TypeError, "levels: expected an int"),
        (8.0, TypeError, "levels: expected an int"),
        (True, TypeError, "levels: expected an int"),
        (None, TypeError, "levels: expected an int"),
    ],
)
def test_bad_levels(corrector: qfast.Corrector, levels, exc, match) -> None:
    with pytest.raises(exc, match=match):
        corrector.correct(np.zeros((8, 8, 3), np.uint8), levels)


def test_missing_and_corrupt_model_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"model: no such model file .*nowhere\.onnx"):
        qfast.Corrector(tmp_path / "nowhere.onnx")
    bad = tmp_path / "corrupt.onnx"
    bad.write_bytes(b"this is not an ONNX model")
    with pytest.raises(ValueError, match=r"model: .*corrupt\.onnx is not a valid ONNX model"):
        qfast.Corrector(bad)
    with pytest.raises(TypeError, match="model: expected 'default', 'int8', 'ycbcr420', 'rgb-v1' or a path, got int"):
        qfast.Corrector(3)


def test_model_of_an_unknown_quantizer(tmp_path: Path) -> None:
    onnx = pytest.importorskip("onnx")
    graph = onnx.load(str(qc.model_path("default")))
    onnx.helper.set_model_props(graph, {"quantizer": "hsv"})
    path = tmp_path / "hsv.onnx"
    onnx.save(graph, str(path))
    with pytest.raises(ValueError, match=r"model: .*hsv\.onnx undoes quantizer 'hsv', expected one of"):
        qfast.Corrector(path)


def test_bad_tiles() -> None:
    with pytest.raises(ValueError, match="tile: expected a multiple of 16, got 100"):
        qfast.Corrector(tile=100)
    with pytest.raises(ValueError, match="tile: expected 64.., got 32"):
        qfast.Corrector(tile=32)
    with pytest.raises(ValueError, match="overlap: expected 0..64, got 80"):
        qfast.Corrector(tile=128, overlap=80)
    with pytest.raises(ValueError, match="overlap: expected a multiple of 16, got 8"):
        qfast.Corrector(tile=128, overlap=8)


def test_memory_beyond_the_output_grows_with_the_width_not_the_area() -> None:
    """The corrector keeps floats for a band of rows only (before: the whole image in float32 twice, about 73 bytes
    a pixel): a four times taller image needs about the same memory beyond its output."""
    import tracemalloc

    c = qfast.Corrector(providers=["CPUExecutionProvider"], tile=256, overlap=64)
    rng = np.random.default_rng(0)
    beyond = {}
    for h in (600, 2400):
        img = qfast.quantize_uniform(rng.integers(0, 256, (h, 1600, 3), dtype=np.uint8), 8)
        c.correct(img[:64, :64], 8)
        tracemalloc.start()
        try:
            out = c.correct(img, 8, max_error=16)
            beyond[h] = tracemalloc.get_traced_memory()[1] - out.nbytes
        finally:
            tracemalloc.stop()
    band = 256 * 1600 * 3 * 4  # one tile-high band of float32
    assert beyond[2400] < 1.5 * beyond[600], beyond
    assert beyond[2400] < 4 * band, (beyond, band)  # the whole image in float32 would be 46 MB
