"""Palettes of more than 256 colours (uint16 indices) and error diffusion on all cores, against plain NumPy."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import qfast

FS = [(1, 0, 7.0), (-1, 1, 3.0), (0, 1, 5.0), (1, 1, 1.0)]
ATKINSON = [(1, 0, 1.0), (2, 0, 1.0), (-1, 1, 1.0), (0, 1, 1.0), (1, 1, 1.0), (0, 2, 1.0)]


def nearest_numpy(img: np.ndarray, pal: np.ndarray) -> np.ndarray:
    """Each pixel's nearest palette colour by integer squared distance; argmin keeps the lowest index on ties."""
    rgb = img[..., None].repeat(3, -1) if img.ndim == 2 else img[..., :3]
    px = rgb.reshape(-1, 3).astype(np.int64)
    p = pal.astype(np.int64)
    out = np.empty(len(px), np.int64)
    for s in range(0, len(px), 512):
        d = ((px[s : s + 512, None, :] - p[None]) ** 2).sum(-1)
        out[s : s + 512] = d.argmin(1)
    return out.reshape(img.shape[:2])


def diffuse_numpy(img: np.ndarray, pal: np.ndarray, kernel: list, divisor: float) -> np.ndarray:
    """Error diffusion in raster order, in float32 like the core: the error of each pixel's clamped value against
    its nearest colour (float32 squared distance, lowest index on ties) goes to the kernel's neighbours; error past
    the edges is dropped."""
    h, w = img.shape[:2]
    rgb = img[..., None].repeat(3, -1) if img.ndim == 2 else img[..., :3]
    p = pal.astype(np.float32)
    err = np.zeros((h + 2, w, 3), np.float32)
    out = np.zeros((h, w), np.int64)
    div, zero, top = np.float32(divisor), np.float32(0), np.float32(255)
    for y in range(h):
        for x in range(w):
            v = np.minimum(np.maximum(rgb[y, x].astype(np.float32) + err[y, x], zero), top)
            dd = p - v
            d = dd[:, 0] * dd[:, 0] + dd[:, 1] * dd[:, 1] + dd[:, 2] * dd[:, 2]
            i = int(np.argmin(d))
            out[y, x] = i
            q = (v - p[i]) / div
            for dx, dy, wt in kernel:
                if 0 <= x + dx < w and y + dy < h:
                    err[y + dy, x + dx] += q * np.float32(wt)
    return out


def random_palette(rng: np.random.Generator, k: int) -> np.ndarray:
    pal = rng.integers(0, 256, (k, 3)).astype(np.uint8)
    # Duplicates and near neighbours, so ties and close calls occur.
    pal[k // 2 : k // 2 + 5] = pal[:5]
    pal[k // 3] = np.clip(pal[0].astype(int) + 1, 0, 255)
    return pal


@pytest.mark.parametrize("k", [300, 1024, 4096])
def test_remap_is_numpy_argmin_at_large_k(k):
    rng = np.random.default_rng(k)
    pal = random_palette(rng, k)
    img = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)
    img[0, :5] = pal[:5]  # exact palette colours (and their duplicates)
    got = qfast.remap(img, pal)
    assert got.dtype == np.uint16 and got.shape == (37, 53)
    np.testing.assert_array_equal(got, nearest_numpy(img, pal))
    grey = img[..., 1].copy()
    np.testing.assert_array_equal(qfast.remap(grey, pal), nearest_numpy(grey, pal))
    rgba = np.concatenate([img, rng.integers(0, 256, (37, 53, 1), dtype=np.uint8)], axis=2)
    np.testing.assert_array_equal(qfast.remap(rgba, pal), nearest_numpy(img, pal))


def test_index_dtype_switches_above_256():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
    assert qfast.remap(img, random_palette(rng, 256)).dtype == np.uint8
    assert qfast.remap(img, random_palette(rng, 257)).dtype == np.uint16
    assert qfast.palette.index_dtype(256) == np.uint8 and qfast.palette.index_dtype(65536) == np.uint16


def test_remap_out_and_stacks_at_large_k():
    rng = np.random.default_rng(2)
    pal = random_palette(rng, 700)
    stack = rng.integers(0, 256, (3, 16, 12, 3), dtype=np.uint8)
    got = qfast.remap(stack, pal)
    assert got.dtype == np.uint16 and got.shape == (3, 16, 12)
    for i in range(3):
        np.testing.assert_array_equal(got[i], nearest_numpy(stack[i], pal))
    out = np.zeros((16, 12), np.uint16)
    assert qfast.remap(stack[0], pal, out=out) is out
    np.testing.assert_array_equal(out, got[0])
    with pytest.raises(TypeError, match="out: expected dtype uint16, got uint8"):
        qfast.remap(stack[0], pal, out=np.zeros((16, 12), np.uint8))


@pytest.mark.parametrize("k", [300, 1024])
def test_quantize_colors_at_large_k(k):
    rng = np.random.default_rng(k + 1)
    # Smooth content plus noise: many more distinct colours than k.
    yy, xx = np.mgrid[0:96, 0:128]
    img = np.stack([xx * 2, yy * 2, (xx + yy)], -1) + rng.integers(0, 24, (96, 128, 3))
    img = np.clip(img, 0, 255).astype(np.uint8)
    q = qfast.quantize_colors(img, k)
    assert q.palette.shape == (k, 3) and q.indices.dtype == np.uint16
    np.testing.assert_array_equal(q.indices, nearest_numpy(img, q.palette))
    np.testing.assert_array_equal(q.image(), q.palette[q.indices])
    # More colours, less error.
    assert q.mse < qfast.quantize_colors(img, 256).mse
    np.testing.assert_array_equal(qfast.kmeans_palette(img, k), q.palette)
    with pytest.raises(ValueError, match="at most 256 colours, this one has"):
        q.to_pil()


def test_large_k_with_few_colours_gives_them_exactly():
    rng = np.random.default_rng(3)
    colours = rng.integers(0, 256, (500, 3), dtype=np.uint8)
    colours = np.unique(colours, axis=0)
    img = colours[rng.integers(0, len(colours), (40, 40))]
    pal = qfast.kmeans_palette(img, 4096)
    used = np.unique(img.reshape(-1, 3), axis=0)
    np.testing.assert_array_equal(np.unique(pal, axis=0), used)


def test_grey_at_large_k():
    rng = np.random.default_rng(4)
    img = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    q = qfast.quantize_colors(img, 300)
    # 256 grey levels at most: the palette is those levels, exact.
    assert len(q.palette) == len(np.unique(img)) and q.mse == 0.0
    assert q.indices.dtype == (np.uint8 if len(q.palette) <= 256 else np.uint16)


def test_k_limit():
    img = np.zeros((4, 4, 3), np.uint8)
    for f in (qfast.kmeans_palette, qfast.quantize_colors):
        with pytest.raises(ValueError, match=r"k: expected 1\.\.65536, got 65537"):
            f(img, 65537)
    with pytest.raises(ValueError, match=r"palette: expected 1\.\.65536 colours, got 65537"):
        qfast.remap(img, np.zeros((65537, 3), np.uint8))


@pytest.mark.parametrize("dither,kernel,divisor", [("floyd-steinberg", FS, 16.0), ("atkinson", ATKINSON, 8.0)])
@pytest.mark.parametrize("shape", [(1, 1), (1, 9), (7, 1), (5, 2), (1, 3), (6, 3), (13, 17)])
def test_error_diffusion_is_the_numpy_reference(dither, kernel, divisor, shape):
    rng = np.random.default_rng(shape[0] * 31 + shape[1])
    img = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    for pal in (random_palette(rng, 12), random_palette(rng, 300)):
        got = qfast.remap(img, pal, dither=dither)
        np.testing.assert_array_equal(got, diffuse_numpy(img, pal, kernel, divisor), err_msg=f"k={len(pal)}")


def test_error_diffusion_of_grey():
    rng = np.random.default_rng(9)
    img = rng.integers(0, 256, (9, 11), dtype=np.uint8)
    pal = random_palette(rng, 20)
    np.testing.assert_array_equal(qfast.remap(img, pal, dither="atkinson"), diffuse_numpy(img, pal, ATKINSON, 8.0))


_SCRIPT = """
import sys
import numpy as np
import qfast
rng = np.random.default_rng(7)
img = rng.integers(0, 256, (83, 301, 3), dtype=np.uint8)
pal = rng.integers(0, 256, (300, 3)).astype(np.uint8)
out = [qfast.remap(img, pal[:k], dither=d) for k in (16, 300) for d in ("floyd-steinberg", "atkinson")]
out.append(qfast.quantize_colors(img, 256, dither="floyd-steinberg").indices)
np.savez(sys.argv[1], *out)
"""


def test_error_diffusion_does_not_depend_on_the_thread_count(tmp_path):
    paths = []
    for n in (1, 2, 5):
        env = dict(os.environ, RAYON_NUM_THREADS=str(n))
        p = tmp_path / f"t{n}.npz"
        subprocess.run([sys.executable, "-c", _SCRIPT, str(p)], check=True, env=env)
        paths.append(p)
    one = np.load(paths[0])
    for p in paths[1:]:
        other = np.load(p)
        for name in one.files:
            np.testing.assert_array_equal(one[name], other[name], err_msg=f"{p.name} {name}")
