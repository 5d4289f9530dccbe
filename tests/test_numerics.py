"""Numbers at the edges: mu-law as mu -> 0, metrics at extreme data ranges, huge ints, 0-d arrays, masked arrays.

Every bad number is a TypeError or ValueError naming the argument: no OverflowError, no bare math error, no silent
inf or nan."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

import qfast

MUS = [1e-20, 1e-16, 1e-15, 1e-12, 1e-8, 1e-4, 0.01, 1.0, 5.0, 255.0, 1e4, 1e6]


def _mu_law_reference(levels: int, mu: float) -> tuple[np.ndarray, np.ndarray]:
    """The index table and codebook of mu-law companding, in plain NumPy (log1p / expm1 keep small mu exact)."""
    x = np.arange(256, dtype=np.float64)
    y = np.log1p(mu * x / 255.0) / np.log1p(mu)
    index = np.clip(np.floor(y * levels), 0, levels - 1).astype(np.int64)
    yc = (np.arange(levels) + 0.5) / levels
    codebook = np.clip(np.round(255.0 / mu * np.expm1(yc * np.log1p(mu))), 0, 255).astype(np.int64)
    return index, codebook


@pytest.mark.parametrize("mu", MUS)
@pytest.mark.parametrize("levels", [2, 8, 37, 256])
def test_mu_law_matches_numpy_across_mu(mu: float, levels: int) -> None:
    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    q = qfast.quantize_mu_law(ramp, levels, mu=mu)
    index, codebook = _mu_law_reference(levels, mu)
    got = q.indices.reshape(-1).astype(np.int64)
    # Allow a different bin only where the reference sits on a bin edge (a last-bit difference of log1p).
    scaled = np.log1p(mu * np.arange(256.0) / 255.0) / np.log1p(mu) * levels
    edge = np.abs(scaled - np.round(scaled)) < 1e-9
    assert np.all((got == index) | edge), np.nonzero(got != index)
    assert np.abs(q.codebook[0].astype(np.int64) - codebook).max() <= (0 if mu >= 1e-12 else 1)


def test_tiny_mu_approaches_uniform_quantization() -> None:
    # Before: (1 + mu).ln() rounded to 0 for mu <= 1e-15 and every codeword was 0 (a black image).
    img = qfast.samples.load()
    for mu in (1e-20, 1e-15):
        mu_law = qfast.quantize_mu_law(img, 8, mu=mu).image()
        assert mu_law.max() > 200
        assert qfast.psnr(img, mu_law) > qfast.psnr(img, qfast.quantize_uniform(img, 8)) - 0.5


def test_psnr_at_extreme_data_ranges_is_finite_and_exact() -> None:
    a = np.zeros((16, 16), np.uint8)
    b = a.copy()
    b[0, 0] = 16  # mse = 1
    for r in (1e-200, 1e-10, 255.0, 1e200):
        assert qfast.psnr(a, b, data_range=r) == pytest.approx(20 * math.log10(r), abs=1e-9)
    assert qfast.psnr(a, a, data_range=1e-200) == math.inf


@pytest.mark.parametrize("r", [1e-200, 1e-160, 1e80, 1e200])
def test_ssim_refuses_data_ranges_it_cannot_compute(r: float) -> None:
    a = qfast.samples.load()[:64, :64]
    with pytest.raises(ValueError, match="^data_range: "):
        qfast.ssim(a, a, data_range=r)


def test_ssim_is_finite_across_the_documented_range() -> None:
    a = qfast.samples.load()[:64, :64]
    b = qfast.quantize_uniform(a, 4)
    for r in (1e-140, 1.0, 255.0, 1e70):
        assert math.isfinite(qfast.ssim(a, b, data_range=r))


@pytest.mark.parametrize(
    ("call", "arg"),
    [
        (lambda: qfast.decode(qfast.encode(np.zeros((8, 8), np.uint8), max_error=0), max_pixels=2**64), "max_pixels"),
        (lambda: qfast.unpack_bits(np.zeros(4, np.uint8), 2, 2**70), "count"),
        (lambda: qfast.quantize_colors(np.zeros((8, 8, 3), np.uint8), 4, seed=2**80), "seed"),
        (lambda: qfast.quantize_uniform(np.zeros((8, 8), np.uint8), 2**100), "levels"),
        (lambda: qfast.quantize_mu_law(np.zeros((8, 8), np.uint8), 8, mu=Fraction(10**400)), "mu"),
        (lambda: qfast.quantize_lloyd_max(np.zeros((8, 8), np.uint8), 8, tol=Fraction(10**400)), "tol"),
        (lambda: qfast.psnr(np.zeros((8, 8), np.uint8), np.ones((8, 8), np.uint8), data_range=10**400), "data_range"),
    ],
)
def test_huge_numbers_are_value_errors_naming_the_argument(call, arg: str) -> None:
    with pytest.raises(ValueError, match=f"^{arg}: "):
        call()


def test_zero_d_arrays_are_accepted_wherever_an_int_is() -> None:
    img = qfast.samples.load()[:64, :64]
    assert np.array_equal(qfast.quantize_uniform(img, np.array(8)), qfast.quantize_uniform(img, 8))
    assert np.array_equal(qfast.quantize_colors(img, np.array(4)).indices, qfast.quantize_colors(img, 4).indices)
    v = qfast.uniform_indices(img, 8)
    assert np.array_equal(qfast.pack_bits(v, np.array(3)), qfast.pack_bits(v, 3))
    assert qfast.psnr(img, v, data_range=np.array(255.0)) == qfast.psnr(img, v)
    q = qfast.quantize_uniform(img, 8)
    assert np.array_equal(qfast.Corrector().correct(q, np.array(8)), qfast.Corrector().correct(q, 8))


def test_masked_arrays_are_refused_with_the_way_out() -> None:
    img = np.ma.masked_array(np.zeros((8, 8), np.uint8), mask=np.eye(8, dtype=bool))
    with pytest.raises(TypeError, match=r"^image: masked arrays are not supported.*filled"):
        qfast.quantize_uniform(img, 4)
    with pytest.raises(TypeError, match=r"^a: masked arrays"):
        qfast.psnr(img, img.data)
