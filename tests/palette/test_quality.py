"""Quality targets (quality=(min, max), pngquant's 0-100 scale) and posterization, against references written here."""

from __future__ import annotations

import numpy as np
import pytest

import qfast
from qfast.palette import mse_of_quality, pngquant_mse, quality_of_mse


def libimagequant_mse(q: int) -> float:
    """libimagequant's quality_to_mse (lib/libimagequant.c), converted as its mse_to_standard_mse does (x 65536/6)."""
    if q == 0:
        return float("inf")
    if q == 100:
        return 0.0
    fudge = max(0.0, 0.016 / (0.001 + q) - 0.001)
    return (fudge + 2.5 / (210.0 + q) ** 1.2 * (100.1 - q) / 100.0) * 65536.0 / 6.0


def liq_pixel(rgba: np.ndarray) -> np.ndarray:
    """libimagequant's f_pixel (lib/pal.rs from_rgba) of (N, 4) RGBA bytes: (a, r, g, b) premultiplied, in its
    internal gamma 0.57 (input gamma 0.45455), weighted a 0.625, r 0.5, g 1, b 0.45."""
    x = rgba.astype(np.float64)
    a = x[:, 3] / 255
    lut = lambda v: (v / 255) ** (0.57 / 0.45455)  # noqa: E731
    return np.stack([a * 0.625, lut(x[:, 0]) * 0.5 * a, lut(x[:, 1]) * 1.0 * a, lut(x[:, 2]) * 0.45 * a], axis=1)


def liq_standard_mse(src: np.ndarray, out: np.ndarray) -> float:
    """Mean f_pixel diff (max of the error on black and on white, over r, g, b) in "standard" units (x 65536/6/0.45)."""

    def rgba(x):
        x = x.reshape(-1, x.shape[-1]) if x.ndim == 3 else x.reshape(-1, 1)
        if x.shape[1] == 1:
            x = np.column_stack([x, x, x, np.full(len(x), 255)])
        if x.shape[1] == 3:
            x = np.column_stack([x, np.full(len(x), 255)])
        if x.shape[1] == 2:
            x = np.column_stack([x[:, 0], x[:, 0], x[:, 0], x[:, 1]])
        return x

    p, q = liq_pixel(rgba(src)), liq_pixel(rgba(out))
    black = p[:, 1:] - q[:, 1:]
    white = black + (q[:, :1] - p[:, :1])
    return float(np.maximum(black**2, white**2).sum(axis=1).mean() * 65536 / 6 / 0.45)


def quality_reference(mse: float) -> int:
    for q in range(100, 0, -1):
        if mse <= libimagequant_mse(q) + 1e-6 * 65536.0 / 6.0:
            return q
    return 0


@pytest.fixture(scope="module")
def small(photo):
    return np.ascontiguousarray(photo[::4, ::4])


def test_the_scale_is_pngquants():
    for q in range(0, 101):
        assert mse_of_quality(q) == pytest.approx(libimagequant_mse(q), rel=1e-12)
    # Known points: 80 -> MSE 6.09 (40.3 dB), 65 -> 11.33 (37.6 dB), 100 -> 0, 0 -> unbounded.
    assert mse_of_quality(80) == pytest.approx(6.0896, abs=1e-3)
    assert mse_of_quality(65) == pytest.approx(11.3338, abs=1e-3)
    assert mse_of_quality(100) == 0 and mse_of_quality(0) == float("inf")
    for m in (0.0, 0.01, 0.3, 3.0, 6.0, 6.1, 11.0, 50.0, 200.0, 1e5):
        assert quality_of_mse(m) == quality_reference(m), m


def test_pngquant_mse_is_libimagequants_measure(small):
    rng = np.random.default_rng(0)
    for shape in [(16, 16, 4), (16, 16, 3), (16, 16, 2), (16, 16)]:
        a = rng.integers(0, 256, size=shape, dtype=np.uint8)
        b = rng.integers(0, 256, size=shape, dtype=np.uint8)
        assert pngquant_mse(a, b) == pytest.approx(liq_standard_mse(a, b), rel=1e-9)
    q = qfast.quantize_colors(small, 64)
    assert q.quality == quality_reference(liq_standard_mse(small, q.image()))


def test_fewest_colours_that_reach_max(small):
    q = qfast.quantize_colors(small, quality=(30, 60))
    n = len(q.palette)
    assert 1 < n < 256
    # The result's quality, from an error computed here, reaches the max ...
    assert quality_reference(liq_standard_mse(small, q.image())) >= 60
    assert q.quality >= 60
    # ... and one colour fewer does not.
    fewer = qfast.quantize_colors(small, n - 1)
    assert quality_reference(liq_standard_mse(small, fewer.image())) < 60


def test_cap_and_minimum(small):
    # k caps the search: 32 colours cannot reach 90 but do reach 5, so the result is the 32-colour one.
    q = qfast.quantize_colors(small, 32, quality=(5, 90))
    assert len(q.palette) == 32
    np.testing.assert_array_equal(q.palette, qfast.quantize_colors(small, 32).palette)
    with pytest.raises(qfast.QualityError, match=r"quality: 4 colours reach quality \d+, below the minimum 95") as e:
        qfast.quantize_colors(small, 4, quality=(95, 100))
    assert isinstance(e.value, ValueError)
    assert e.value.minimum == 95 and e.value.colors == 4 and e.value.quality < 95


def test_an_image_with_few_colours_reaches_100(small):
    few = qfast.quantize_colors(small, 5).image()
    q = qfast.quantize_colors(few, quality=(0, 100))
    assert len(q.palette) == 5 and q.quality == 100
    np.testing.assert_array_equal(q.image(), few)


def test_quality_with_alpha(small):
    h, w = small.shape[:2]
    rgba = np.dstack([small, np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))])
    q = qfast.quantize_colors(rgba, quality=(5, 50))
    assert q.palette.shape[1] == 4 and len(q.palette) < 256
    assert quality_reference(liq_standard_mse(rgba, q.image())) >= 50


@pytest.mark.parametrize(
    "quality, match",
    [
        ((80, 65), r"quality: expected min <= max, got \(80, 65\)"),
        ((-1, 50), r"quality: expected 0\.\.100, got -1"),
        ((50, 101), r"quality: expected 0\.\.100, got 101"),
    ],
)
def test_bad_quality(small, quality, match):
    with pytest.raises(ValueError, match=match):
        qfast.quantize_colors(small, quality=quality)


def test_bad_quality_types(small):
    with pytest.raises(TypeError, match=r"quality: expected \(min, max\)"):
        qfast.quantize_colors(small, quality="65-80")
    with pytest.raises(TypeError, match=r"quality: expected \(min, max\)"):
        qfast.quantize_colors(small, quality=(1, 2, 3))
    with pytest.raises(TypeError, match="quality: expected an int"):
        qfast.quantize_colors(small, quality=(1.5, 80))
    with pytest.raises(TypeError, match=r"k: give a palette size k, or quality=\(min, max\)"):
        qfast.quantize_colors(small)


# ---------------------------------------------------------------- posterize


def posterized_values(bits: int) -> np.ndarray:
    """pngquant's posterized channel values: the low `bits` bits repeat the top ones (libimagequant
    posterize_channel)."""
    c = np.arange(256)
    return np.unique((c & ~((1 << bits) - 1)) | (c >> (8 - bits)))


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_posterize_rounds_the_palette_to_pngquants_values(small, bits):
    q = qfast.quantize_colors(small, 32, posterize=bits)
    allowed = posterized_values(bits)
    assert np.isin(q.palette, allowed).all()
    assert len(np.unique(q.palette, axis=0)) == len(q.palette)  # duplicates dropped
    # Each entry is the nearest allowed value of the unposterized entry.
    plain = qfast.quantize_colors(small, 32).palette
    nearest = allowed[np.abs(plain[..., None].astype(int) - allowed[None, None, :]).argmin(axis=2)]
    assert {tuple(r) for r in q.palette} == {tuple(r) for r in nearest}
    # The image is mapped again, onto the posterized palette: each pixel its nearest entry.
    d = ((small.reshape(-1, 1, 3).astype(np.int64) - q.palette[None].astype(np.int64)) ** 2).sum(axis=2)
    np.testing.assert_array_equal(q.indices.ravel(), d.argmin(axis=1))


def test_posterize_4_is_argb4444_and_includes_alpha(small):
    assert (posterized_values(4) % 17 == 0).all() and len(posterized_values(4)) == 16
    h, w = small.shape[:2]
    rgba = np.dstack([small, np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))])
    q = qfast.quantize_colors(rgba, 64, posterize=4)
    assert q.palette.shape[1] == 4 and (q.palette % 17 == 0).all()


def test_bad_posterize(small):
    with pytest.raises(ValueError, match=r"posterize: expected 0\.\.4, got 5"):
        qfast.quantize_colors(small, 8, posterize=5)
