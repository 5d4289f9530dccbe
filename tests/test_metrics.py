"""MSE, PSNR and SSIM against NumPy and scikit-image."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from skimage.metrics import structural_similarity

import qfast
from conftest import PHOTOS


def sk_ssim(a, b):
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    if a.ndim == 3:
        kw["channel_axis"] = -1
    return structural_similarity(a, b, **kw)


@given(
    shape=st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 4)),
    data=st.data(),
)
def test_mse_and_psnr_match_numpy(shape, data):
    a = data.draw(hnp.arrays(np.uint8, shape))
    b = data.draw(hnp.arrays(np.uint8, shape))
    want = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    assert qfast.mse(a, b) == pytest.approx(want, rel=1e-12, abs=0)
    if want == 0:
        assert qfast.psnr(a, b) == math.inf
    else:
        assert qfast.psnr(a, b) == pytest.approx(10 * np.log10(255**2 / want), rel=1e-12)
        assert qfast.psnr(a, b, data_range=1.0) == pytest.approx(10 * np.log10(1.0 / want), rel=1e-12)


def test_mse_large_images_are_exact(photo):
    big = np.tile(photo, (2, 2, 1))
    other = np.roll(big, 3, axis=1)
    want = np.mean((big.astype(np.int64) - other.astype(np.int64)) ** 2)
    assert qfast.mse(big, other) == pytest.approx(want, rel=1e-15)


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("bits", [1, 3, 5])
def test_ssim_matches_scikit_image_on_photos(name, bits):
    img = qfast.samples.load(name)
    q = qfast.quantize_uniform(img, bits=bits)
    assert qfast.ssim(img, q) == pytest.approx(sk_ssim(img, q), abs=1e-4)


@given(
    shape=st.one_of(
        st.tuples(st.integers(11, 40), st.integers(11, 40)),
        st.tuples(st.integers(11, 30), st.integers(11, 30), st.integers(1, 4)),
    ),
    data=st.data(),
)
def test_ssim_matches_scikit_image_on_random_images(shape, data):
    a = data.draw(hnp.arrays(np.uint8, shape))
    b = data.draw(hnp.arrays(np.uint8, shape))
    assert qfast.ssim(a, b) == pytest.approx(sk_ssim(a, b), abs=1e-4)


def test_ssim_of_an_image_with_itself_is_one(photo):
    assert qfast.ssim(photo, photo) == pytest.approx(1.0, abs=1e-12)
    assert qfast.ssim(photo[..., 0], photo[..., 0]) == pytest.approx(1.0, abs=1e-12)
