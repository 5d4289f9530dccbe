"""Colour palettes: kmeans_palette, remap, quantize_colors, against references written here."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from palette_references import oklab_reference
from PIL import Image

import qfast

# ---------------------------------------------------------------- references


def nearest_bruteforce(pixels: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Index of the nearest palette colour for each (N, 3) pixel; ties to the lowest index (argmin)."""
    d = ((pixels[:, None, :].astype(np.int64) - palette[None, :, :].astype(np.int64)) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def lloyd_reference(pixels: np.ndarray, k: int, seed: int, iters: int = 40) -> np.ndarray:
    """Plain NumPy k-means on pixels: k-means++ seeding, then Lloyd iterations. Returns float centres."""
    rng = np.random.default_rng(seed)
    x = pixels.astype(np.float64)
    centres = [x[rng.integers(len(x))]]
    d2 = ((x - centres[0]) ** 2).sum(1)
    for _ in range(1, k):
        p = d2 / d2.sum()
        c = x[rng.choice(len(x), p=p)]
        centres.append(c)
        d2 = np.minimum(d2, ((x - c) ** 2).sum(1))
    c = np.array(centres)
    for _ in range(iters):
        lab = (((x[:, None, :] - c[None]) ** 2).sum(2)).argmin(1)
        for j in range(k):
            m = lab == j
            if m.any():
                c[j] = x[m].mean(0)
    return c


def mse_with(pixels: np.ndarray, palette: np.ndarray) -> float:
    p = np.asarray(palette, dtype=np.float64)
    d = ((pixels[:, None, :].astype(np.float64) - p[None]) ** 2).sum(2).min(1)
    return float(d.mean() / 3)


def small(img: np.ndarray, step: int = 4) -> np.ndarray:
    return np.ascontiguousarray(img[::step, ::step])


@pytest.fixture(scope="module")
def parrots() -> np.ndarray:
    return qfast.samples.load("parrots")


def photos(n: int) -> list[np.ndarray]:
    """The first ``n`` of the bundled photos other than parrots (Kodak 3 and 20)."""
    return [qfast.samples.load(name) for name in ("hats", "plane")[:n]]


# ---------------------------------------------------------------- palette quality


@pytest.mark.parametrize("k", [2, 8, 16, 32])
def test_palette_is_as_good_as_numpy_lloyd(parrots, k):
    img = small(parrots, 3)
    px = img.reshape(-1, 3)
    ours = mse_with(px, qfast.kmeans_palette(img, k))
    # The reference gets the best of three k-means++ starts on the pixels themselves.
    ref = min(mse_with(px, lloyd_reference(px, k, seed)) for seed in range(3))
    assert ours <= ref * 1.02 + 0.05, (ours, ref)


@pytest.mark.parametrize("k", [4, 64])
def test_palette_quality_on_photos(k):
    for img in photos(2):
        img = small(img, 4)
        px = img.reshape(-1, 3)
        ours = mse_with(px, qfast.kmeans_palette(img, k))
        ref = mse_with(px, lloyd_reference(px, k, 0, iters=25))
        assert ours <= ref * 1.02 + 0.05, (k, ours, ref)


@pytest.mark.parametrize("method", ["kmeans", "median-cut", "kmeans++"])
def test_every_method_beats_a_uniform_grid(parrots, method):
    img = small(parrots, 2)
    px = img.reshape(-1, 3)
    grid = np.array([[r, g, b] for r in (64, 192) for g in (32, 96, 160, 224) for b in (64, 192)], np.uint8)
    ours = mse_with(px, qfast.kmeans_palette(img, 16, method=method))
    assert ours < mse_with(px, grid)


def test_kmeans_quality_is_reported_by_quantize_colors(parrots):
    q = qfast.quantize_colors(parrots, 16)
    rec = q.palette[q.indices].astype(np.float64)
    assert q.mse == pytest.approx(((rec - parrots) ** 2).mean(), rel=1e-9)
    assert q.mse <= mse_with(parrots.reshape(-1, 3)[::7], q.palette) * 1.2


def test_k1_is_the_mean_colour(parrots):
    pal = qfast.kmeans_palette(parrots, 1)
    np.testing.assert_allclose(pal[0], parrots.reshape(-1, 3).mean(0), atol=0.51)


def test_fewer_distinct_colours_come_back_exactly():
    colours = np.array([[10, 20, 30], [10, 20, 31], [250, 0, 7]], np.uint8)
    img = colours[np.arange(60) % 3].reshape(6, 10, 3)
    pal = qfast.kmeans_palette(img, 8)
    assert sorted(map(tuple, pal.tolist())) == sorted(map(tuple, colours.tolist()))
    q = qfast.quantize_colors(img, 8)
    assert q.mse == 0
    np.testing.assert_array_equal(q.image(), img)


def test_one_palette_for_a_list_of_images(parrots):
    a, b = small(parrots, 2), np.full((20, 30, 3), (0, 0, 255), np.uint8)
    pal = qfast.kmeans_palette([a, b], 8)
    assert pal.shape == (8, 3)
    # The pure blue image must be served: some colour lies close to it.
    assert ((pal.astype(int) - (0, 0, 255)) ** 2).sum(1).min() < 30**2


def test_grey_images_give_grey_palettes():
    img = np.tile(np.arange(256, dtype=np.uint8), (8, 1))
    pal = qfast.kmeans_palette(img, 4)
    assert (pal[:, 0] == pal[:, 1]).all() and (pal[:, 1] == pal[:, 2]).all()
    q = qfast.quantize_colors(img, 4)
    assert q.image().shape == img.shape
    q3 = qfast.quantize_colors(img[..., None], 4)
    assert q3.image().shape == (8, 256, 1)


def test_rgba_keeps_its_alpha(parrots):
    # alpha="keep": the behaviour before RGBA palettes (alpha takes no part, comes back untouched).
    alpha = (np.arange(parrots.shape[0] * parrots.shape[1]) % 251).astype(np.uint8).reshape(parrots.shape[:2])
    rgba = np.dstack([parrots, alpha])
    q = qfast.quantize_colors(rgba, 8, alpha="keep")
    out = q.image()
    assert out.shape == rgba.shape
    np.testing.assert_array_equal(out[..., 3], alpha)
    # Alpha takes no part: the palette is the RGB image's.
    np.testing.assert_array_equal(q.palette, qfast.quantize_colors(parrots, 8).palette)
    la = np.dstack([parrots[..., 1], alpha])
    assert qfast.quantize_colors(la, 4, alpha="keep").image()[..., 1].tolist() == alpha.tolist()


def test_oklab_palettes(parrots):
    img = small(parrots, 2)
    q = qfast.quantize_colors(img, 16, color_space="oklab")
    assert q.palette.shape == (16, 3)
    lab = oklab_reference(img.reshape(-1, 3))
    plab = oklab_reference(q.palette)
    d = ((lab[:, None] - plab[None]) ** 2).sum(2)
    chosen = d[np.arange(len(d)), q.indices.ravel()]
    assert (chosen <= d.min(1) + 1e-3).all()
    # Clustering in Oklab is at least as good there as the RGB palette is.
    rgb_pal = oklab_reference(qfast.kmeans_palette(img, 16))
    err = lambda p: ((lab[:, None] - p[None]) ** 2).sum(2).min(1).mean()  # noqa: E731
    assert err(plab) <= err(rgb_pal) * 1.05


# ---------------------------------------------------------------- remap


@settings(max_examples=60, deadline=None)
@given(
    k=st.integers(1, 256),
    h=st.integers(1, 40),
    w=st.integers(1, 40),
    seed=st.integers(0, 2**32 - 1),
    few=st.booleans(),
)
def test_remap_is_the_bruteforce_nearest(k, h, w, seed, few):
    rng = np.random.default_rng(seed)
    # `few` draws values from a small set, so ties and duplicate palette colours are common.
    hi = 4 if few else 256
    palette = rng.integers(0, hi, (k, 3)).astype(np.uint8) * (64 if few else 1)
    img = rng.integers(0, hi, (h, w, 3)).astype(np.uint8) * (64 if few else 1)
    got = qfast.remap(img, palette)
    assert got.shape == (h, w) and got.dtype == np.uint8
    np.testing.assert_array_equal(got.ravel(), nearest_bruteforce(img.reshape(-1, 3), palette))


def test_remap_on_a_photo_and_palette_transfer(parrots):
    kod = photos(1)[0]
    pal = qfast.kmeans_palette(kod, 64)
    got = qfast.remap(parrots, pal)
    px = parrots.reshape(-1, 3)
    np.testing.assert_array_equal(got.ravel(), nearest_bruteforce(px, pal))


def test_remap_oklab_is_the_nearest_in_oklab():
    rng = np.random.default_rng(1)
    palette = rng.integers(0, 256, (40, 3)).astype(np.uint8)
    img = rng.integers(0, 256, (50, 60, 3)).astype(np.uint8)
    got = qfast.remap(img, palette, color_space="oklab").ravel()
    lab, plab = oklab_reference(img.reshape(-1, 3)), oklab_reference(palette)
    d = ((lab[:, None] - plab[None]) ** 2).sum(2)
    assert (d[np.arange(len(d)), got] <= d.min(1) + 1e-2).all()


def test_remap_accepts_lists_int_arrays_grey_and_pil(parrots):
    pal = [[0, 0, 0], [255, 255, 255], [128, 128, 128]]
    grey = np.array([[0, 100, 200, 255]], np.uint8)
    np.testing.assert_array_equal(qfast.remap(grey, pal), [[0, 2, 1, 1]])
    np.testing.assert_array_equal(qfast.remap(grey, np.array(pal, np.int64)), [[0, 2, 1, 1]])
    small_img = small(parrots, 8)
    np.testing.assert_array_equal(qfast.remap(Image.fromarray(small_img), pal), qfast.remap(small_img, pal))
    strided = parrots[::3, ::5]
    np.testing.assert_array_equal(qfast.remap(strided, pal), qfast.remap(np.ascontiguousarray(strided), pal))


# ---------------------------------------------------------------- dithering


@pytest.mark.parametrize("dither", ["floyd-steinberg", "atkinson", "bayer4", "bayer8"])
@pytest.mark.parametrize("colour", [(30, 30, 30), (100, 160, 220), (200, 60, 10)])
def test_dithering_keeps_the_mean_of_flat_regions(dither, colour):
    # A palette whose colours surround the flat colour: a 4x4x4 grid (Atkinson drops a quarter of the error, so on a
    # palette as sparse as black and white it never leaves black for dark greys; a grid avoids that known failure).
    levels = (0, 85, 170, 255)
    palette = np.array([[r, g, b] for r in levels for g in levels for b in levels], np.uint8)
    img = np.full((64, 64, 3), colour, np.uint8)
    idx = qfast.remap(img, palette, dither=dither)
    mean = palette[idx].reshape(-1, 3).mean(0)
    # Bayer 4x4 has 17 steps between two palette levels, Bayer 8x8 65. Atkinson passes on 3/4 of the error, so a
    # colour within (spacing / 2) / 4 of a palette colour never leaves it: up to 85 / 8 off, by design.
    tol = {"floyd-steinberg": 1.5, "atkinson": 85 / 8, "bayer4": 3, "bayer8": 1.5}[dither]
    np.testing.assert_allclose(mean, colour, atol=tol)
    assert len(np.unique(idx)) > 1


@pytest.mark.parametrize("dither", ["floyd-steinberg", "atkinson"])
def test_error_diffusion_of_a_palette_colour_is_that_colour(dither):
    # (Ordered dithering spreads by the palette's mean spacing, so it may mix a palette colour with its neighbours.)
    palette = np.array([[0, 0, 0], [90, 90, 90], [255, 255, 255]], np.uint8)
    img = np.full((16, 16, 3), 90, np.uint8)
    np.testing.assert_array_equal(qfast.remap(img, palette, dither=dither), 1)


def test_dithered_quantization_is_close_and_differs(parrots):
    img = small(parrots, 2)
    plain = qfast.quantize_colors(img, 8)
    fs = qfast.quantize_colors(img, 8, dither="floyd-steinberg")
    np.testing.assert_array_equal(plain.palette, fs.palette)
    assert (plain.indices != fs.indices).any()
    assert plain.mse < fs.mse < 4 * plain.mse


# ---------------------------------------------------------------- determinism


def test_same_seed_same_palette_across_runs(parrots):
    for method in ("kmeans", "kmeans++", "median-cut"):
        a = qfast.kmeans_palette(parrots, 32, seed=7, method=method)
        b = qfast.kmeans_palette(parrots, 32, seed=7, method=method)
        np.testing.assert_array_equal(a, b)
    c = qfast.kmeans_palette(parrots, 32, seed=8, method="kmeans++")
    assert c.shape == (32, 3)


_CHILD = """
import json, sys, numpy as np, qfast
img = qfast.samples.load("parrots")
out = {}
for m in ("kmeans", "kmeans++"):
    for cs in ("rgb", "oklab"):
        out[m + cs] = qfast.kmeans_palette([img, img[::2, ::3]], 48, seed=5, method=m, color_space=cs).tolist()
out["fine"] = qfast.kmeans_palette(img, 160).tolist()
out["fs"] = qfast.quantize_colors(img, 16, dither="floyd-steinberg").indices[::7, ::7].tolist()
print(json.dumps(out))
"""


def test_same_palette_whatever_the_thread_count():
    runs = []
    for threads in ("1", "2", "3"):
        env = dict(os.environ, RAYON_NUM_THREADS=threads)
        r = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout))
    assert runs[0] == runs[1] == runs[2]


# ---------------------------------------------------------------- PIL round trips


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
@pytest.mark.parametrize("k", [1, 2, 17, 256])
def test_to_pil_round_trips(parrots, fmt, k):
    img = small(parrots, 4)
    q = qfast.quantize_colors(img, k)
    im = q.to_pil()
    assert im.mode == "P" and im.size == (img.shape[1], img.shape[0])
    buf = io.BytesIO()
    im.save(buf, format=fmt)
    back = Image.open(io.BytesIO(buf.getvalue()))
    np.testing.assert_array_equal(np.asarray(back.convert("RGB")), q.image())


# ---------------------------------------------------------------- bad input


def test_k_zero():
    with pytest.raises(ValueError, match=r"k: expected 1\.\.65536, got 0"):
        qfast.kmeans_palette(np.zeros((4, 4, 3), np.uint8), 0)


def test_k_too_big():
    with pytest.raises(ValueError, match=r"k: expected 1\.\.65536, got 65537"):
        qfast.quantize_colors(np.zeros((4, 4, 3), np.uint8), 65537)


def test_k_not_an_int():
    with pytest.raises(TypeError, match="k: expected an int"):
        qfast.kmeans_palette(np.zeros((4, 4, 3), np.uint8), 2.5)


def test_empty_palette():
    with pytest.raises(ValueError, match=r"palette: expected 1\.\.65536 colours, got 0"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), np.zeros((0, 3), np.uint8))


def test_palette_not_n_by_3():
    # (n, 4) is an RGBA palette (tests/palette/test_alpha.py); other widths are refused.
    with pytest.raises(
        ValueError, match=r"palette: expected shape \(n, 3\) \(RGB\) or \(n, 4\) \(RGBA\), got \(4, 5\)"
    ):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 5), np.uint8))


def test_palette_too_long():
    with pytest.raises(ValueError, match=r"palette: expected 1\.\.65536 colours, got 65537"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), np.zeros((65537, 3), np.uint8))


def test_palette_of_floats():
    with pytest.raises(TypeError, match="palette: expected integers 0..255"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), np.zeros((4, 3), np.float32))


def test_palette_out_of_range():
    with pytest.raises(ValueError, match=r"palette: expected values in 0\.\.255, got -1\.\.300"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), [[-1, 0, 0], [300, 0, 0]])


def test_palette_ragged():
    with pytest.raises(TypeError, match="palette: expected an"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), [[1, 2, 3], [1, 2]])


def test_unknown_dither():
    with pytest.raises(ValueError, match="dither: expected one of 'none', 'floyd-steinberg'.*got 'ordered'"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), [[0, 0, 0]], dither="ordered")


def test_unknown_dither_in_quantize_colors():
    with pytest.raises(ValueError, match="dither: expected one of"):
        qfast.quantize_colors(np.zeros((4, 4, 3), np.uint8), 2, dither=None)


def test_unknown_method():
    with pytest.raises(ValueError, match=r"method: expected one of 'kmeans', 'median-cut', 'kmeans\+\+', got 'octree'"):
        qfast.quantize_colors(np.zeros((4, 4, 3), np.uint8), 2, method="octree")


def test_unknown_colour_space():
    with pytest.raises(ValueError, match="color_space: expected one of 'rgb', 'oklab', got 'lab'"):
        qfast.kmeans_palette(np.zeros((4, 4, 3), np.uint8), 2, color_space="lab")


def test_unknown_colour_space_in_remap():
    with pytest.raises(ValueError, match="color_space: expected one of"):
        qfast.remap(np.zeros((4, 4, 3), np.uint8), [[0, 0, 0]], color_space="hsv")


def test_float_image():
    with pytest.raises(TypeError, match="image: expected dtype uint8, got float32"):
        qfast.quantize_colors(np.zeros((4, 4, 3), np.float32), 2)


def test_float_image_in_a_list():
    with pytest.raises(TypeError, match=r"images\[1\]: expected dtype uint8, got float64"):
        qfast.kmeans_palette([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4, 3))], 2)


def test_float_image_in_remap():
    with pytest.raises(TypeError, match="image: expected dtype uint8"):
        qfast.remap(np.zeros((4, 4, 3), np.float64), [[0, 0, 0]])


def test_wrongly_shaped_image():
    with pytest.raises(ValueError, match=r"images: expected shape \(H, W\) or \(H, W, C\) with C in 1\.\.4"):
        qfast.kmeans_palette(np.zeros((4, 4, 5), np.uint8), 2)


def test_one_dimensional_image():
    with pytest.raises(ValueError, match=r"image: expected shape \(H, W\)"):
        qfast.remap(np.zeros(5, np.uint8), [[0, 0, 0]])


def test_empty_image():
    with pytest.raises(ValueError, match="image: expected a non-empty image"):
        qfast.quantize_colors(np.zeros((0, 4, 3), np.uint8), 2)


def test_empty_list_of_images():
    with pytest.raises(ValueError, match="images: expected at least one image"):
        qfast.kmeans_palette([], 2)


def test_images_of_different_channel_counts():
    with pytest.raises(ValueError, match="images: expected the same channel count in every image, got 3 in"):
        qfast.kmeans_palette([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 4), np.uint8)], 2)


def test_not_an_image():
    with pytest.raises(TypeError, match="images: expected a NumPy uint8 array or a PIL image, got str"):
        qfast.kmeans_palette("photo.png", 2)


def test_negative_seed():
    with pytest.raises(ValueError, match="seed: expected 0..18446744073709551615, got -1"):
        qfast.kmeans_palette(np.zeros((4, 4, 3), np.uint8), 2, seed=-1)


def test_negative_max_iter():
    with pytest.raises(ValueError, match="max_iter: expected 0..1000000, got -1"):
        qfast.kmeans_palette(np.zeros((4, 4, 3), np.uint8), 2, max_iter=-1)


def test_bad_tol():
    with pytest.raises(ValueError, match="tol: expected a finite number >= 0, got nan"):
        qfast.kmeans_palette(np.zeros((4, 4, 3), np.uint8), 2, tol=float("nan"))


def test_core_checks_too():
    # The compiled core is the last line: a bad call straight into it is an exception, not a crash.
    from qfast import _core

    img = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="k: expected 1..65536, got 0"):
        _core.kmeans_palette([img], 0, 0, "rgb", "kmeans", 5, 0.0)
    with pytest.raises(ValueError, match="images: expected the same channel count"):
        _core.kmeans_palette([img, img[..., 0].copy()], 2, 0, "rgb", "kmeans", 5, 0.0)
    with pytest.raises(ValueError, match="palette: expected shape"):
        _core.remap(img, np.zeros((0, 3), np.uint8), "rgb", "none")
    with pytest.raises(ValueError, match="dither:"):
        _core.remap(img, np.zeros((1, 3), np.uint8), "rgb", "bayer2")
    with pytest.raises(ValueError, match="method:"):
        _core.quantize_colors(img, 2, 0, "rgb", "wu", 5, 0.0, "none")
    with pytest.raises(ValueError, match="images: expected at least one image"):
        _core.kmeans_palette([], 2, 0, "rgb", "kmeans", 5, 0.0)
