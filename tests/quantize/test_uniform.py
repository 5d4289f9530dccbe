"""Uniform quantization against plain NumPy references written here."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import qfast


def ref_indices(x: np.ndarray, levels: list[int]) -> np.ndarray:
    lv = np.array(levels, dtype=np.int64)
    if x.ndim == 2:
        lv = lv[0]
    return (x.astype(np.int64) * lv // 256).astype(np.uint8)


def ref_midpoint_table(L: int) -> np.ndarray:
    """For each bin, the integer minimising the squared error over the bin's members (ties: the larger), by search."""
    values = np.arange(256)
    idx = values * L // 256
    table = np.zeros(L, dtype=np.int64)
    for i in range(L):
        members = values[idx == i]
        costs = ((members[None, :] - values[:, None]) ** 2).sum(axis=1)
        best = np.flatnonzero(costs == costs.min())
        table[i] = best.max()
    return table


def ref_dequantize(i: np.ndarray, levels: list[int], reconstruction: str) -> np.ndarray:
    out = np.empty_like(i)
    planes = [i] if i.ndim == 2 else [i[..., c] for c in range(i.shape[2])]
    outs = [out] if i.ndim == 2 else [out[..., c] for c in range(i.shape[2])]
    for p, o, L in zip(planes, outs, levels):
        if reconstruction == "midpoint":
            table = ref_midpoint_table(L)
        else:
            table = np.round(np.arange(L) * 255 / (L - 1))
        o[...] = table[p.astype(np.int64)]
    return out


def test_midpoint_examples_from_the_spec():
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    assert (qfast.quantize_uniform(x, 16)[0] == 8).all()  # bin 0..15 -> 8
    assert qfast.dequantize_uniform(np.array([[0, 1]], np.uint8), bits=1, reconstruction="full-range").tolist() == [
        [0, 255]
    ]


@pytest.mark.parametrize("L", [2, 3, 5, 7, 16, 100, 255, 256])
def test_every_value_every_reconstruction(L):
    x = np.arange(256, dtype=np.uint8).reshape(16, 16)
    idx = qfast.uniform_indices(x, L)
    np.testing.assert_array_equal(idx, ref_indices(x, [L]))
    for rec in ("midpoint", "full-range"):
        want = ref_dequantize(ref_indices(x, [L]), [L], rec)
        np.testing.assert_array_equal(qfast.dequantize_uniform(idx, L, reconstruction=rec), want)
        np.testing.assert_array_equal(qfast.quantize_uniform(x, L, reconstruction=rec), want)


images = st.one_of(
    hnp.arrays(np.uint8, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=40)),
    hnp.arrays(
        np.uint8,
        st.tuples(st.integers(1, 30), st.integers(1, 30), st.integers(1, 4)),
    ),
)


@given(img=images, data=st.data())
def test_matches_numpy_for_any_shape_and_levels(img, data):
    channels = 1 if img.ndim == 2 else img.shape[2]
    per_channel = data.draw(st.booleans())
    use_bits = data.draw(st.booleans())
    if use_bits:
        bits = data.draw(st.lists(st.integers(1, 8), min_size=channels, max_size=channels))
        levels = [1 << b for b in bits]
        kw = {"bits": bits if per_channel else bits[0]}
        if not per_channel:
            levels = [levels[0]] * channels
    else:
        levels = data.draw(st.lists(st.integers(2, 256), min_size=channels, max_size=channels))
        if not per_channel:
            levels = [levels[0]] * channels
        kw = {"levels": levels if per_channel else levels[0]}
    if not per_channel and channels in (2, 4):
        levels[-1] = 256  # one value for all channels leaves alpha (the last of LA and RGBA) as it was
    rec = data.draw(st.sampled_from(["midpoint", "full-range"]))
    want_idx = ref_indices(img, levels)
    idx = qfast.uniform_indices(img, **kw)
    assert idx.dtype == np.uint8 and idx.shape == img.shape
    np.testing.assert_array_equal(idx, want_idx)
    want = ref_dequantize(want_idx, levels, rec)
    np.testing.assert_array_equal(qfast.dequantize_uniform(idx, reconstruction=rec, **kw), want)
    np.testing.assert_array_equal(qfast.quantize_uniform(img, reconstruction=rec, **kw), want)


def test_strided_views_and_fortran_order():
    rng = np.random.default_rng(1)
    base = rng.integers(0, 256, size=(64, 96, 4), dtype=np.uint8)
    for view in (base[::2, ::-3, :3], base[..., 1], np.asfortranarray(base[:, :, :3]), base.transpose(1, 0, 2)):
        levels = [5] * (1 if view.ndim == 2 else view.shape[2])
        if len(levels) == 4:
            levels[3] = 256  # alpha passes through
        np.testing.assert_array_equal(qfast.uniform_indices(view, 5), ref_indices(np.ascontiguousarray(view), levels))


def test_large_image_uses_parallel_path_and_agrees(photo):
    big = np.tile(photo, (3, 2, 1))  # 1536 x 1536 x 3: many parallel chunks
    levels = [3, 16, 64]
    np.testing.assert_array_equal(qfast.uniform_indices(big, levels), ref_indices(big, levels))
    np.testing.assert_array_equal(
        qfast.quantize_uniform(big, levels), ref_dequantize(ref_indices(big, levels), levels, "midpoint")
    )


def test_pil_images_are_accepted(photo):
    from PIL import Image

    for mode in ("RGB", "L", "RGBA"):
        im = Image.fromarray(photo).convert(mode)
        arr = np.asarray(im)
        np.testing.assert_array_equal(qfast.quantize_uniform(im, 8), qfast.quantize_uniform(arr, 8))
    pal = Image.fromarray(photo).quantize(16)
    np.testing.assert_array_equal(qfast.uniform_indices(pal, 4), ref_indices(np.asarray(pal.convert("RGB")), [4] * 3))


def test_input_is_not_modified(photo):
    before = photo.copy()
    qfast.quantize_uniform(photo, 4)
    qfast.quantize_lloyd_max(photo, 4)
    np.testing.assert_array_equal(photo, before)


def test_full_range_hits_black_and_white(photo):
    out = qfast.quantize_uniform(photo, bits=1, reconstruction="full-range")
    assert set(np.unique(out).tolist()) == {0, 255}
