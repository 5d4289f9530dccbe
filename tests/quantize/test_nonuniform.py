"""Lloyd-Max and mu-law against NumPy references and the optimality conditions they must meet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qfast
from conftest import PHOTOS


def planes(img):
    return [img] if img.ndim == 2 else [img[..., c] for c in range(img.shape[2])]


def channel_mse(a, b):
    return np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)


def uniform_midpoint(plane, L):
    """The uniform midpoint quantizer in plain NumPy: bin members' middle, rounded up."""
    x = np.arange(256)
    idx = x * L // 256
    lo = np.array([x[idx == i].min() if (idx == i).any() else 0 for i in range(L)])
    hi = np.array([x[idx == i].max() if (idx == i).any() else 0 for i in range(L)])
    table = (lo + hi + 1) // 2
    return table[idx][plane]


def numpy_lloyd(plane, L, iters=200):
    """Plain integer Lloyd iterations on the histogram, from the uniform midpoint codebook."""
    hist = np.bincount(plane.ravel(), minlength=256).astype(np.float64)
    x = np.arange(256)
    idx = x * L // 256
    code = np.array([((x[idx == i].min() + x[idx == i].max() + 1) // 2) for i in range(L)])
    for _ in range(iters):
        assign = np.abs(x[:, None] - code[None, :]).argmin(axis=1)
        new = code.copy()
        for i in range(L):
            w = hist[assign == i]
            if w.sum() > 0:
                new[i] = np.floor((x[assign == i] * w).sum() / w.sum() + 0.5)
        new.sort()
        if (new == code).all():
            break
        code = new
    assign = np.abs(x[:, None] - code[None, :]).argmin(axis=1)
    return code[assign][plane]


@pytest.mark.parametrize("name", PHOTOS)
@pytest.mark.parametrize("L", [2, 3, 4, 8, 16, 32, 64, 256])
def test_lloyd_max_never_loses_to_uniform_midpoint_on_photos(name, L):
    img = qfast.samples.load(name)
    q = qfast.quantize_lloyd_max(img, L)
    rec = q.image()
    for c, (p, r) in enumerate(zip(planes(img), planes(rec))):
        assert channel_mse(p, r) <= channel_mse(p, uniform_midpoint(p, L)) + 1e-12, f"channel {c}"
    assert qfast.mse(img, rec) <= qfast.mse(img, qfast.quantize_uniform(img, L)) + 1e-12


@pytest.mark.parametrize("L", [2, 4, 8, 16])
def test_lloyd_max_meets_the_optimality_conditions(photo, L):
    """A Lloyd-Max quantizer is a fixed point: nearest-codeword cells, each codeword its cell's (integer) mean."""
    q = qfast.quantize_lloyd_max(photo, L, max_iter=1000, tol=0)
    for p, idx, code in zip(planes(photo), planes(q.indices), q.codebook):
        code = code.astype(np.int64)
        assert len(code) == L and np.all(np.diff(code) >= 0)
        dist = np.abs(p.astype(np.int64)[..., None] - code)
        flat_d = dist.reshape(-1, L)
        chosen = flat_d[np.arange(flat_d.shape[0]), idx.ravel().astype(np.int64)]
        np.testing.assert_array_equal(chosen, flat_d.min(axis=1))
        for i in np.unique(idx):
            members = p[idx == i].astype(np.float64)
            assert code[i] == np.floor(members.mean() + 0.5)


@pytest.mark.parametrize("L", [2, 5, 16])
def test_lloyd_max_is_at_least_as_good_as_a_numpy_lloyd(photo, L):
    q = qfast.quantize_lloyd_max(photo, L, max_iter=1000, tol=0)
    for p, r in zip(planes(photo), planes(q.image())):
        assert channel_mse(p, r) <= channel_mse(p, numpy_lloyd(p, L)) + 1e-12


def numpy_optimum(plane, L):
    """The exact optimal real-valued L-level quantizer's MSE by an O(L n^2) dynamic programme in NumPy."""
    hist = np.bincount(plane.ravel(), minlength=256).astype(np.float64)
    v = np.flatnonzero(hist)
    w = hist[v]
    s0, s1, s2 = (np.concatenate([[0.0], np.cumsum(a)]) for a in (w, w * v, w * v * v))
    n = len(v)
    if L >= n:
        return 0.0
    a = np.arange(n)[:, None]
    b = np.arange(n)[None, :]
    with np.errstate(invalid="ignore", divide="ignore"):
        W = s0[b + 1] - s0[a]
        S = s1[b + 1] - s1[a]
        cost = np.where(b >= a, s2[b + 1] - s2[a] - S * S / W, np.inf)
    dp = cost[0].copy()
    for _ in range(1, L):
        dp = np.concatenate([[np.inf], np.min(dp[:-1, None] + cost[1:, :], axis=0)[1:]]) if n > 1 else dp
    return dp[-1] / plane.size


@pytest.mark.parametrize("L", [2, 4, 8, 16])
def test_lloyd_max_is_within_rounding_of_the_global_optimum(photo, L):
    q = qfast.quantize_lloyd_max(photo, L)
    for p, r in zip(planes(photo), planes(q.image())):
        # Integer codewords may cost up to 1/4 per pixel over real-valued ones.
        assert channel_mse(p, r) <= numpy_optimum(p, L) + 0.25 + 1e-9


@given(
    img=hnp.arrays(np.uint8, st.tuples(st.integers(1, 20), st.integers(1, 20), st.integers(1, 4))),
    L=st.integers(2, 256),
)
def test_lloyd_max_any_image(img, L):
    q = qfast.quantize_lloyd_max(img, L)
    assert q.indices.shape == img.shape and q.indices.dtype == np.uint8
    # one level count for all channels leaves alpha (the last channel of LA and RGBA) as it was: 256 levels
    levels = (L,) * img.shape[2] if img.shape[2] in (1, 3) else (L,) * (img.shape[2] - 1) + (256,)
    assert q.levels == levels
    rec = q.image()
    for c, (p, r) in enumerate(zip(planes(img), planes(rec))):
        np.testing.assert_array_equal(r, q.codebook[c][planes(q.indices)[c]])
        assert channel_mse(p, r) <= channel_mse(p, uniform_midpoint(p, levels[c])) + 1e-9


def test_lloyd_max_is_lossless_with_enough_levels():
    img = np.array([[0, 10, 10, 200, 255]], np.uint8)
    q = qfast.quantize_lloyd_max(img, 4)
    np.testing.assert_array_equal(q.image(), img)


def ref_mu_law(plane, L, mu):
    x = plane.astype(np.float64)
    y = np.log1p(mu * x / 255) / np.log1p(mu)
    idx = np.clip(np.floor(y * L), 0, L - 1).astype(np.uint8)
    code = np.clip(np.round(255 / mu * ((1 + mu) ** ((np.arange(L) + 0.5) / L) - 1)), 0, 255).astype(np.uint8)
    return idx, code


@pytest.mark.parametrize("L,mu", [(2, 255.0), (4, 255.0), (16, 100.0), (64, 5.0), (256, 255.0)])
def test_mu_law_matches_numpy(photo, L, mu):
    q = qfast.quantize_mu_law(photo, L, mu=mu)
    for c, p in enumerate(planes(photo)):
        idx, code = ref_mu_law(p, L, mu)
        np.testing.assert_array_equal(planes(q.indices)[c], idx)
        np.testing.assert_array_equal(q.codebook[c], code)
        np.testing.assert_array_equal(planes(q.image())[c], code[idx])


def test_mu_law_spends_levels_on_dark_values():
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 256)
    q = qfast.quantize_mu_law(ramp, 8)
    dark = len(np.unique(q.indices[0, :32]))
    light = len(np.unique(q.indices[0, -32:]))
    assert dark > light


def test_results_are_per_channel_and_grayscale_works(photo):
    gray = photo[..., 1]
    q = qfast.quantize_lloyd_max(gray, bits=3)
    assert q.indices.shape == gray.shape and len(q.codebook) == 1 and q.levels == (8,)
    q3 = qfast.quantize_mu_law(photo, [4, 8, 16])
    assert q3.levels == (4, 8, 16)
    assert [int(planes(q3.indices)[c].max()) < L for c, L in enumerate((4, 8, 16))] == [True] * 3
