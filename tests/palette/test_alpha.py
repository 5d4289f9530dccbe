"""RGBA palettes (alpha="palette"): clustering and mapping in premultiplied space, against NumPy references written
here, and PNG / GIF files read back with Pillow."""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from palette_references import oklab_reference
from PIL import Image

import qfast

# ---------------------------------------------------------------- references


def premultiplied(rgba: np.ndarray, lab: bool = False) -> np.ndarray:
    """(N, 4) points (c * a, 255 * a) of (N, 4) straight RGBA bytes; c the sRGB bytes, or Oklab times 255."""
    x = rgba.reshape(-1, 4)
    a = x[:, 3:].astype(np.float64)
    c = oklab_reference(x[:, :3]) if lab else x[:, :3].astype(np.float64)
    return np.concatenate([c * a, 255 * a], axis=1)


def nearest_reference(rgba: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Each pixel's nearest palette entry in premultiplied sRGB (exact in int64), ties to the lowest index."""
    p = premultiplied(rgba).astype(np.int64)
    q = premultiplied(palette).astype(np.int64)
    d = ((p[:, None, :] - q[None, :, :]) ** 2).sum(axis=2)
    return d.argmin(axis=1)


def mse_reference(src: np.ndarray, out: np.ndarray) -> float:
    """Premultiplied MSE: colour channels times alpha / 255, and alpha, averaged over pixels and channels."""
    a, b = src.astype(np.float64), out.astype(np.float64)
    pa = np.concatenate([a[..., :-1] * a[..., -1:] / 255, a[..., -1:]], axis=-1)
    pb = np.concatenate([b[..., :-1] * b[..., -1:] / 255, b[..., -1:]], axis=-1)
    return float(((pa - pb) ** 2).mean())


def with_alpha(rgb: np.ndarray) -> np.ndarray:
    """The photo with a horizontal alpha ramp 0..255 and a fully transparent band on the left."""
    h, w = rgb.shape[:2]
    a = np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))
    a[:, : w // 8] = 0
    return np.ascontiguousarray(np.dstack([rgb, a]))


@pytest.fixture(scope="module")
def rgba(photo):
    return with_alpha(photo[::4, ::4])


def noise_rgba(shape, seed):
    rng = np.random.default_rng(seed)
    img = rng.integers(0, 256, size=(*shape, 4), dtype=np.uint8)
    img[..., 3] = rng.choice([0, 1, 37, 128, 200, 254, 255], size=shape).astype(np.uint8)
    return img


# ---------------------------------------------------------------- exact mapping


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_remap_is_the_premultiplied_argmin(seed):
    img = noise_rgba((40, 50), seed)
    rng = np.random.default_rng(seed + 10)
    pal = rng.integers(0, 256, size=(60, 4), dtype=np.uint8)
    pal[::7, 3] = 0  # several invisible entries of different colours: ties between them go to the lowest
    pal[5] = pal[40]  # a duplicate: the lower index wins
    pal[10:20, 3] = rng.choice([1, 128, 255], size=10)
    idx = qfast.remap(img, pal)
    np.testing.assert_array_equal(idx.ravel(), nearest_reference(img, pal))


# Few distinct values per channel, so that ties between entries are common.
_levels = st.sampled_from([0, 1, 2, 64, 128, 254, 255])


@given(
    arrays(np.uint8, st.tuples(st.integers(1, 6), st.integers(1, 6), st.just(4)), elements=_levels),
    arrays(np.uint8, st.tuples(st.integers(1, 12), st.just(4)), elements=_levels),
    st.sampled_from(["none", "floyd-steinberg", "bayer4"]),
)
def test_remap_is_exact_on_any_small_input(img, pal, dither):
    idx = qfast.remap(img, pal, dither=dither)
    assert idx.shape == img.shape[:2] and idx.max() < len(pal)
    clear = np.flatnonzero(pal[:, 3] == 0)
    if dither == "none":
        np.testing.assert_array_equal(idx.ravel(), nearest_reference(img, pal))
    elif len(clear):
        # Dithered or not, an invisible pixel takes the first invisible entry.
        assert (idx[img[..., 3] == 0] == clear[0]).all()


def test_opaque_image_on_an_rgba_palette_counts_as_alpha_255(photo):
    img = np.ascontiguousarray(photo[::8, ::8])
    pal = np.array([[0, 0, 0, 0], [255, 255, 255, 128], [200, 30, 30, 255], [30, 200, 30, 255], [20, 20, 20, 255]])
    idx = qfast.remap(img, pal)
    opaque = np.dstack([img, np.full(img.shape[:2], 255, np.uint8)])
    np.testing.assert_array_equal(idx.ravel(), nearest_reference(opaque, pal.astype(np.uint8)))


def test_rgb_palette_on_rgba_maps_the_colours_alone(rgba):
    pal = qfast.kmeans_palette(rgba[..., :3], 12)
    assert pal.shape == (12, 3)
    np.testing.assert_array_equal(qfast.remap(rgba, pal), qfast.remap(np.ascontiguousarray(rgba[..., :3]), pal))


def test_quantize_maps_each_pixel_to_its_nearest_entry(rgba):
    q = qfast.quantize_colors(rgba, 48)
    assert q.palette.shape == (48, 4)
    np.testing.assert_array_equal(q.indices.ravel(), nearest_reference(rgba, q.palette))
    np.testing.assert_array_equal(q.image(), q.palette[q.indices])


# ---------------------------------------------------------------- palettes


def test_transparent_pixels_share_one_reserved_entry(rgba):
    q = qfast.quantize_colors(rgba, 16)
    clear = rgba[..., 3] == 0
    assert clear.any()
    assert q.palette[0].tolist() == [0, 0, 0, 0]
    assert (q.palette[:, 3] == 0).sum() == 1
    assert (q.indices[clear] == 0).all()
    assert (q.image()[clear] == 0).all()
    # Nothing visible maps onto the transparent entry unless it is nearer than every other one.
    assert (q.palette[1:, 3] > 0).all()


def test_invisible_colours_cost_nothing(rgba):
    other = rgba.copy()
    clear = other[..., 3] == 0
    other[clear, :3] = np.random.default_rng(0).integers(0, 256, size=(int(clear.sum()), 3), dtype=np.uint8)
    a, b = qfast.quantize_colors(rgba, 24), qfast.quantize_colors(other, 24)
    np.testing.assert_array_equal(a.palette, b.palette)
    np.testing.assert_array_equal(a.indices, b.indices)
    assert a.mse == pytest.approx(b.mse)


def kmeans_reference(rgba: np.ndarray, k: int, seed: int = 0, iters: int = 30) -> float:
    """Plain NumPy Lloyd on the premultiplied pixels (random distinct seeds): the premultiplied MSE it reaches, with
    unrounded centres (a bound no byte palette can beat by rounding)."""
    x = premultiplied(rgba.reshape(-1, 4)) / 255
    c = x[np.random.default_rng(seed).choice(len(x), k, replace=False)]
    for _ in range(iters):
        d = ((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)
        a = d.argmin(axis=1)
        for j in range(k):
            if (a == j).any():
                c[j] = x[a == j].mean(axis=0)
    return float(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2).min(axis=1).mean() / 4)


@pytest.mark.parametrize("k", [8, 32])
def test_palette_is_as_good_as_plain_kmeans(rgba, k):
    aware = qfast.quantize_colors(rgba, k)
    assert aware.mse <= qfast.quantize_colors(rgba, k, method="median-cut").mse
    assert aware.mse <= 1.02 * kmeans_reference(rgba, k)


def test_mse_is_the_premultiplied_error(rgba):
    q = qfast.quantize_colors(rgba, 20, dither="floyd-steinberg")
    assert q.mse == pytest.approx(mse_reference(rgba, q.image()), rel=1e-9)


def test_few_colours_come_back_exactly():
    img = np.array(
        [[[10, 20, 30, 255], [10, 20, 30, 255], [1, 2, 3, 0]], [[9, 9, 9, 100], [5, 6, 7, 0], [9, 9, 9, 100]]]
    )
    q = qfast.quantize_colors(img.astype(np.uint8), 8)
    assert q.palette.tolist() == [[0, 0, 0, 0], [9, 9, 9, 100], [10, 20, 30, 255]]
    expect = img.copy()
    expect[img[..., 3] == 0] = 0
    np.testing.assert_array_equal(q.image(), expect)


@pytest.mark.parametrize("dither", ["none", "floyd-steinberg", "atkinson", "bayer4", "bayer8"])
@pytest.mark.parametrize("color_space", ["rgb", "oklab"])
def test_opaque_rgba_is_the_rgb_result_plus_alpha_255(photo, dither, color_space):
    rgb = np.ascontiguousarray(photo[::4, ::4])
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    a = qfast.quantize_colors(rgb, 24, dither=dither, color_space=color_space)
    b = qfast.quantize_colors(rgba, 24, dither=dither, color_space=color_space)
    np.testing.assert_array_equal(b.palette[:, :3], a.palette)
    assert (b.palette[:, 3] == 255).all()
    np.testing.assert_array_equal(b.indices, a.indices)
    np.testing.assert_array_equal(b.image()[..., :3], a.image())
    np.testing.assert_array_equal(qfast.kmeans_palette(rgba, 24, color_space=color_space)[:, :3], a.palette)


def test_kmeans_palette_of_rgba_is_rgba(rgba):
    pal = qfast.kmeans_palette(rgba, 16)
    assert pal.shape == (16, 4)
    np.testing.assert_array_equal(pal, qfast.quantize_colors(rgba, 16).palette)
    both = qfast.kmeans_palette([rgba, rgba[::-1]], 16)
    np.testing.assert_array_equal(both, pal)  # the same pixels, the same histogram
    assert qfast.kmeans_palette(rgba, 16, alpha="keep").shape == (16, 3)


def test_grey_with_alpha_gets_grey_entries(photo):
    grey = photo[::4, ::4, 1]
    la = np.ascontiguousarray(with_alpha(np.dstack([grey] * 3))[..., [0, 3]])
    for cs in ("rgb", "oklab"):
        q = qfast.quantize_colors(la, 12, color_space=cs)
        assert q.palette.shape == (12, 4)
        assert (q.palette[:, 0] == q.palette[:, 1]).all() and (q.palette[:, 1] == q.palette[:, 2]).all()
        out = q.image()
        assert out.shape == la.shape
        np.testing.assert_array_equal(out, q.palette[q.indices][..., [0, 3]])
    q = qfast.quantize_colors(la, 12)
    as_rgba = np.dstack([la[..., 0]] * 3 + [la[..., 1]])
    np.testing.assert_array_equal(q.indices.ravel(), nearest_reference(as_rgba, q.palette))
    assert q.mse == pytest.approx(mse_reference(la, q.image()))


def test_oklab_with_alpha_maps_to_a_nearest_entry(rgba):
    q = qfast.quantize_colors(rgba, 32, color_space="oklab")
    assert q.palette.shape == (32, 4) and q.palette[0].tolist() == [0, 0, 0, 0]
    src = rgba.reshape(-1, 4).copy()
    src[src[:, 3] == 0] = 0
    p, e = premultiplied(src, lab=True), premultiplied(q.palette, lab=True)
    d = ((p[:, None, :] - e[None, :, :]) ** 2).sum(axis=2)
    chosen = d[np.arange(len(d)), q.indices.ravel()]
    # float32 Oklab in the core against float64 here: the chosen entry is nearest up to rounding.
    assert (chosen <= d.min(axis=1) * (1 + 1e-4) + 1.0).all()
    assert mse_reference(rgba, q.image()) < 2 * mse_reference(rgba, qfast.quantize_colors(rgba, 32).image())


# ---------------------------------------------------------------- dithering


@pytest.mark.parametrize("dither", ["floyd-steinberg", "atkinson", "bayer8"])
def test_dithering_keeps_the_mean_of_a_translucent_grey(dither):
    img = np.zeros((64, 64, 4), np.uint8)
    img[...] = (100, 100, 100, 128)
    pal = np.array([[0, 0, 0, 128], [255, 255, 255, 128]], np.uint8)
    idx = qfast.remap(img, pal, dither=dither)
    out = pal[idx]
    # Atkinson drops a quarter of the error (by design), so its mean is looser.
    tol = 12 if dither == "atkinson" else 5
    assert abs(out[..., 0].mean() - 100) < tol, out[..., 0].mean()


def test_error_diffusion_dithers_alpha_and_skips_invisible_pixels():
    img = np.zeros((64, 64, 4), np.uint8)
    img[..., 3] = 100
    img[:, :8] = 0  # invisible: always the transparent entry, and no error passes through
    pal = np.array([[0, 0, 0, 0], [0, 0, 0, 255]], np.uint8)
    idx = qfast.remap(img, pal, dither="floyd-steinberg")
    assert (idx[:, :8] == 0).all()
    assert abs(pal[idx[:, 8:]][..., 3].mean() - 100) < 5


def test_every_dither_sends_invisible_pixels_to_the_transparent_entry(rgba):
    for d in ("floyd-steinberg", "atkinson", "bayer4", "bayer8"):
        q = qfast.quantize_colors(rgba, 16, dither=d)
        assert (q.indices[rgba[..., 3] == 0] == 0).all(), d
        assert q.indices.max() < 16


# ---------------------------------------------------------------- files


def test_png_carries_trns(rgba, tmp_path):
    q = qfast.quantize_colors(rgba, 16)
    path = tmp_path / "a.png"
    q.to_pil().save(path)
    with Image.open(path) as im:
        assert im.mode == "P"
        t = im.info["transparency"]
        assert isinstance(t, bytes)
        alpha = np.frombuffer(t, np.uint8)
        np.testing.assert_array_equal(alpha, q.palette[: len(alpha), 3])
        assert (q.palette[len(alpha) :, 3] == 255).all()
        back = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(back, q.image())
    with open(path, "rb") as f:
        assert b"tRNS" in f.read()


def test_gif_transparency_is_one_index_below_alpha_128(rgba, tmp_path):
    q = qfast.quantize_colors(rgba, 16)
    assert ((q.palette[:, 3] > 0) & (q.palette[:, 3] < 255)).any()  # partial transparency to round off
    path = tmp_path / "a.gif"
    q.to_pil("gif").save(path)
    with Image.open(path) as im:
        assert "transparency" in im.info
        back = np.asarray(im.convert("RGBA"))
    want_clear = q.image()[..., 3] < 128
    np.testing.assert_array_equal(back[..., 3] == 0, want_clear)
    assert (back[~want_clear, 3] == 255).all()
    np.testing.assert_array_equal(back[~want_clear, :3], q.image()[~want_clear, :3])


def test_pil_indexed_image_with_trns_is_an_rgba_palette(rgba):
    q = qfast.quantize_colors(rgba, 16)
    buf = io.BytesIO()
    q.to_pil().save(buf, format="PNG")
    buf.seek(0)
    with Image.open(buf) as im:
        im.load()
        np.testing.assert_array_equal(qfast.remap(rgba, im), q.indices)


# ---------------------------------------------------------------- bad input


def test_rgba_palettes_hold_at_most_256_colours(rgba):
    with pytest.raises(ValueError, match=r"k: expected 1\.\.256"):
        qfast.quantize_colors(rgba, 257)
    with pytest.raises(ValueError, match=r"palette: expected 1\.\.256 RGBA colours, got 300"):
        qfast.remap(rgba, np.zeros((300, 4), np.uint8))


def test_methods_with_alpha(rgba):
    a = qfast.quantize_colors(rgba, 16, method="kmeans++", seed=3)
    assert a.palette.shape == (16, 4) and a.palette[0].tolist() == [0, 0, 0, 0]
    np.testing.assert_array_equal(a.palette, qfast.kmeans_palette(rgba, 16, method="kmeans++", seed=3))
    np.testing.assert_array_equal(a.indices.ravel(), nearest_reference(rgba, a.palette))
    assert a.mse <= 1.1 * kmeans_reference(rgba, 16)
    mc = qfast.quantize_colors(rgba, 16, method="median-cut")
    assert mc.palette.shape == (16, 4) and mc.mse >= qfast.quantize_colors(rgba, 16).mse


def test_opaque_rgba_writes_no_trns(photo):
    rgba = np.dstack([photo[::8, ::8], np.full(photo[::8, ::8].shape[:2], 255, np.uint8)])
    buf = io.BytesIO()
    qfast.quantize_colors(rgba, 8).to_pil().save(buf, format="PNG")
    assert b"tRNS" not in buf.getvalue()


def test_bad_alpha_and_format(rgba):
    with pytest.raises(ValueError, match="alpha: expected one of 'palette', 'keep'"):
        qfast.quantize_colors(rgba, 4, alpha="straight")
    with pytest.raises(ValueError, match="alpha: expected one of 'palette', 'keep'"):
        qfast.kmeans_palette(rgba, 4, alpha=None)
    with pytest.raises(ValueError, match="format: expected one of 'png', 'gif'"):
        qfast.quantize_colors(rgba, 4).to_pil("webp")


def test_on_off_transparency_uses_the_rgb_palette_of_the_opaque_pixels(photo):
    rgb = np.ascontiguousarray(photo[::4, ::4])
    a = np.full(rgb.shape[:2], 255, np.uint8)
    a[:, :20] = 0
    a[50:60] = 0
    rgba = np.dstack([rgb, a])
    q = qfast.quantize_colors(rgba, 32, dither="none")
    opaque = np.ascontiguousarray(rgb[a == 255][:, None, :])
    np.testing.assert_array_equal(q.palette[0], [0, 0, 0, 0])
    np.testing.assert_array_equal(q.palette[1:, :3], qfast.kmeans_palette(opaque, 31))
    assert (q.palette[1:, 3] == 255).all()
    np.testing.assert_array_equal(q.indices.ravel(), nearest_reference(rgba, q.palette))
    np.testing.assert_array_equal(qfast.kmeans_palette(rgba, 32), q.palette)
    # Better than (or as good as) the RGBA pipeline would do on the same pixels: one translucent pixel sends the
    # image there.
    other = rgba.copy()
    other[0, 0, 3] = 254
    assert q.mse <= qfast.quantize_colors(other, 32).mse * 1.01
    for d in ("floyd-steinberg", "bayer8"):
        qd = qfast.quantize_colors(rgba, 32, dither=d)
        np.testing.assert_array_equal(qd.palette, q.palette)
        assert (qd.indices[a == 0] == 0).all()
