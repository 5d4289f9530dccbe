"""Colour palettes: k-means palettes, exact nearest-colour remapping and dithering.

The palette is found on a weighted colour histogram (a 64-level grid per channel in which each occupied cell keeps
its pixel count and the exact sum of its pixels; 128 levels to finish palettes of 128 colours and more), seeded by a
variance-minimising median cut (or k-means++) and refined by weighted Lloyd iterations with Hamerly's bounds (and,
for 32 to 127 colours, one Lloyd step on the pixels themselves). Remapping is exact: each pixel gets the palette
colour nearest to it (ties to the lowest index), found through a grid of candidate lists.
The work runs in Rust without the GIL, on all cores, and the same arguments give the same palette whatever the
thread count.

Images are uint8 arrays (H, W) (grey), (H, W, 1), (H, W, 2) (grey and alpha), (H, W, 3) (RGB) or (H, W, 4) (RGBA),
or PIL images. Alpha never takes part: palettes are RGB, and :meth:`ColorQuantization.image` gives the alpha channel
back untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._validate import as_choice, as_float, as_image, as_images, as_int, as_palette, channels_of

DITHERS = ("none", "floyd-steinberg", "atkinson", "bayer4", "bayer8")
METHODS = ("kmeans", "median-cut", "kmeans++")
COLOR_SPACES = ("rgb", "oklab")

_SEED_MAX = 2**64 - 1


def _max_iter(value: Any, k: int) -> int:
    if value is None:
        return 10 if k >= 128 else 20
    return as_int(value, "max_iter", 0, 1_000_000)


def _tol(value: Any) -> float:
    t = as_float(value, "tol")
    if not (t >= 0 and np.isfinite(t)):
        raise ValueError(f"tol: expected a finite number >= 0, got {t}")
    return t


def kmeans_palette(
    images: Any,
    k: int,
    *,
    seed: int = 0,
    color_space: str = "rgb",
    method: str = "kmeans",
    max_iter: int | None = None,
    tol: float = 0.0,
) -> np.ndarray:
    """A palette of ``k`` colours that minimises the squared error of the images mapped onto it (k-means).

    Args:
        images: one image or a list of images (one palette for all of them; same channel count). uint8 arrays
            (H, W) or (H, W, C) with C in 1..4, or PIL images. Grey images give grey palettes; alpha is ignored.
        k: palette size, 1..256. ``k = 1`` gives the mean colour.
        seed: seed of the ``"kmeans++"`` sampling, 0..2**64-1 (the other methods need none). The same seed gives
            the same palette whatever the thread count.
        color_space: ``"rgb"`` (minimises the RGB squared error, what PSNR measures) or ``"oklab"`` (clusters in
            the perceptual Oklab space; the colours are converted back to sRGB).
        method: ``"kmeans"`` (median-cut seeding, Lloyd iterations; the best quality), ``"median-cut"`` (the
            seeding alone: faster, a little worse) or ``"kmeans++"`` (k-means++ seeding from ``seed``, then Lloyd).
        max_iter: at most this many Lloyd iterations on the histogram, 0..1000000 (0: the seeding alone). None
            (the default) picks 20 below 128 colours and 10 from 128 (where 5 more rounds on a finer histogram
            follow), which on Kodak stays within 0.05 dB of running to convergence.
        tol: stop early once no colour moves by more than this (in 0..255 units), >= 0.

    Returns:
        uint8 array (n, 3) of RGB colours, n = k unless the images hold fewer than k distinct colours (then n is
        their number and the rows are exactly those colours).

    Raises:
        TypeError: a non-uint8 image (floats included), a non-int k, seed or max_iter.
        ValueError: k outside 1..256, an empty list, images of different channel counts, a wrongly shaped image,
            an unknown method or colour space, a negative tol.

    Example:
        >>> img = qfast.samples.load("parrots")
        >>> qfast.kmeans_palette(img, 16).shape
        (16, 3)
    """
    imgs = as_images(images)
    kk = as_int(k, "k", 1, 256)
    sd = as_int(seed, "seed", 0, _SEED_MAX)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    m = as_choice(method, "method", METHODS)
    it = _max_iter(max_iter, kk)
    return _core.kmeans_palette(imgs, kk, sd, cs, m, it, _tol(tol))


def remap(image: Any, palette: Any, *, dither: str = "none", color_space: str = "rgb") -> np.ndarray:
    """Maps every pixel to a palette index: its nearest colour, or a dithered choice.

    Args:
        image: uint8 array (H, W) or (H, W, C) with C in 1..4, or a PIL image (alpha is ignored).
        palette: (n, 3) RGB colours, n in 1..256, integers 0..255 (any palette: from :func:`kmeans_palette` of this
            or another image, or a fixed one), or a PIL "P" (indexed) image: its palette, up to the highest index
            it uses, so the indices returned are that image's.
        dither: ``"none"`` (the exact nearest colour; ties go to the lowest index), ``"floyd-steinberg"`` or
            ``"atkinson"`` (error diffusion) or ``"bayer4"``/``"bayer8"`` (ordered, scaled by the palette's spacing).
        color_space: where "nearest" is measured: ``"rgb"`` or ``"oklab"``.

    Returns:
        uint8 array (H, W) of palette indices.

    Raises:
        TypeError: a non-uint8 image, a palette that is not integers.
        ValueError: an empty palette, one not of shape (n, 3) or with values outside 0..255, an unknown dither or
            colour space, a wrongly shaped image.

    Example:
        >>> idx = qfast.remap(img, [[0, 0, 0], [255, 255, 255]], dither="floyd-steinberg")
        >>> idx.shape == img.shape[:2]
        True
    """
    img = as_image(image)
    pal = as_palette(palette)
    d = as_choice(dither, "dither", DITHERS)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    return _core.remap(img, pal, cs, d)


@dataclass(frozen=True)
class ColorQuantization:
    """An image reduced to a palette.

    Attributes:
        palette: uint8 array (n, 3) of RGB colours.
        indices: uint8 array (H, W): each pixel's palette index.
        source: the quantized image (uint8, as given, after conversion from PIL).
    """

    palette: np.ndarray
    indices: np.ndarray
    source: np.ndarray = field(repr=False)

    def image(self) -> np.ndarray:
        """The reconstruction, in the source's layout: (H, W) and (H, W, 1) grey, (H, W, 2) grey and alpha,
        (H, W, 3) RGB or (H, W, 4) RGBA. Alpha is the source's, untouched."""
        rgb = self.palette[self.indices]
        src = self.source
        c = channels_of(src)
        if c == 3:
            return rgb
        if src.ndim == 2:
            return np.ascontiguousarray(rgb[..., 0])
        if c == 1:
            return np.ascontiguousarray(rgb[..., :1])
        colour = rgb[..., :1] if c == 2 else rgb
        return np.concatenate([colour, src[..., -1:]], axis=2)

    @property
    def mse(self) -> float:
        """Mean squared error over the colour channels (alpha excluded) between the source and :meth:`image`."""
        src = self.source
        c = channels_of(src)
        a, b = src, self.image()
        if c in (2, 4):
            a, b = np.ascontiguousarray(src[..., :-1]), np.ascontiguousarray(b[..., :-1])
        return float(_core.mse(a, b))

    def to_pil(self) -> Any:
        """A Pillow "P" (palette) image of the indices and palette, ready to save as PNG or GIF (alpha is not
        carried; use :meth:`image` for RGBA)."""
        from PIL import Image

        h, w = self.indices.shape
        im = Image.frombytes("P", (w, h), np.ascontiguousarray(self.indices).tobytes())
        im.putpalette(self.palette.astype(np.uint8).ravel().tolist(), rawmode="RGB")
        return im


def quantize_colors(
    image: Any,
    k: int,
    *,
    dither: str = "none",
    method: str = "kmeans",
    seed: int = 0,
    color_space: str = "rgb",
    max_iter: int | None = None,
    tol: float = 0.0,
) -> ColorQuantization:
    """Reduces an image to ``k`` colours: :func:`kmeans_palette` then :func:`remap`, in one call.

    Args:
        image: uint8 array (H, W) or (H, W, C) with C in 1..4, or a PIL image. RGBA keeps its alpha channel
            untouched (it takes no part in the palette; :meth:`ColorQuantization.image` returns it as it was).
        k: palette size, 1..256.
        dither: ``"none"``, ``"floyd-steinberg"``, ``"atkinson"``, ``"bayer4"`` or ``"bayer8"``.
        method: ``"kmeans"`` (best), ``"median-cut"`` (fastest) or ``"kmeans++"`` (seeded by ``seed``).
        seed: seed of the ``"kmeans++"`` sampling.
        color_space: ``"rgb"`` or ``"oklab"``, for both the palette and the remap.
        max_iter, tol: as for :func:`kmeans_palette`.

    Returns:
        A :class:`ColorQuantization` with ``.palette``, ``.indices``, ``.image()``, ``.mse`` and ``.to_pil()``.

    Raises:
        TypeError, ValueError: as for :func:`kmeans_palette` and :func:`remap`.

    Example:
        >>> q = qfast.quantize_colors(img, 16, dither="floyd-steinberg")
        >>> q.to_pil().save("parrots-16.png")
    """
    img = as_image(image)
    kk = as_int(k, "k", 1, 256)
    d = as_choice(dither, "dither", DITHERS)
    m = as_choice(method, "method", METHODS)
    sd = as_int(seed, "seed", 0, _SEED_MAX)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    it = _max_iter(max_iter, kk)
    pal, idx = _core.quantize_colors(img, kk, sd, cs, m, it, _tol(tol), d)
    return ColorQuantization(pal, idx, img)


def sweep(image: Any, ks: list[int] | None = None, **kwargs: Any) -> list[ColorQuantization]:
    """:func:`quantize_colors` at several palette sizes (default 1, 5, 10, 20, 40); keyword arguments as there."""
    img = as_image(image)
    ks = [1, 5, 10, 20, 40] if ks is None else list(ks)
    if not ks:
        raise ValueError("ks: expected at least one palette size")
    return [quantize_colors(img, k, **kwargs) for k in ks]
