"""Colour palettes: k-means palettes, exact nearest-colour remapping and dithering.

The palette is found on a weighted colour histogram (a 64-level grid per channel in which each occupied cell keeps
its pixel count and the exact sum of its pixels; 128 levels to finish palettes of 128 colours and more), seeded by a
variance-minimising median cut (or k-means++) and refined by weighted Lloyd iterations with Hamerly's bounds (and,
for 32 to 127 colours, one Lloyd step on the pixels themselves; from 1024 colours, a few rounds on the exact
colours). Remapping is exact: each pixel gets the palette colour nearest to it (ties to the lowest index), found
through a grid of candidate lists. Palettes hold up to
:data:`MAX_COLORS` (65536) colours; indices are uint8 for up to 256 colours and uint16 above (PNG and GIF hold 256 at
most: :meth:`ColorQuantization.to_pil` refuses more).
The work runs in Rust without the GIL, on all cores, and the same arguments give the same palette whatever the
thread count.

Images are uint8 arrays (H, W) (grey), (H, W, 1), (H, W, 2) (grey and alpha), (H, W, 3) (RGB) or (H, W, 4) (RGBA),
or PIL images. Alpha never takes part: palettes are RGB, and :meth:`ColorQuantization.image` gives the alpha channel
back untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import _core
from ._arrays import check_out, stack_input
from ._validate import as_choice, as_float, as_image, as_images, as_int, as_palette, channels_of

DITHERS = ("none", "floyd-steinberg", "atkinson", "bayer4", "bayer8")
METHODS = ("kmeans", "median-cut", "kmeans++")
COLOR_SPACES = ("rgb", "oklab")

_SEED_MAX = 2**64 - 1

#: The largest palette: indices are uint16 above 256 colours.
MAX_COLORS = 65536


def index_dtype(colors: int) -> np.dtype:
    """The dtype of the indices into a palette of ``colors`` colours: uint8 up to 256, uint16 above.

    Example:
        >>> qfast.palette.index_dtype(256), qfast.palette.index_dtype(257)
        (dtype('uint8'), dtype('uint16'))
    """
    return np.dtype(np.uint8 if colors <= 256 else np.uint16)


def _max_iter(value: Any, k: int) -> int:
    if value is None:
        return 10 if k >= 128 else 20
    return as_int(value, "max_iter", 0, 1_000_000)


def _tol(value: Any) -> float:
    t = as_float(value, "tol")
    if not (t >= 0 and np.isfinite(t)):
        raise ValueError(f"tol: expected a finite number >= 0, got {t}")
    return t


class ColorHistogram:
    """The exact colour counts of a set of pixels: every distinct RGB colour with its pixel count.

    Built from an image in Rust, summed with ``+`` (or :func:`sum`), picklable (as compact bytes: about 2 to 4 bytes
    per distinct colour) and accepted by :func:`kmeans_palette` in place of the images. The palette of a sum of
    histograms is the palette of the list of their images, bit for bit, so a palette for a dataset that never fits
    in memory needs one image at a time (or one per worker) and the sum: at most 2**24 colours, 12 bytes each in
    memory, however many images. Alpha is ignored; grey pixels count as the colour (v, v, v).

    Args:
        image: a uint8 array (H, W) or (H, W, C) with C in 1..4, or a PIL image; None (the default) gives the empty
            histogram.

    Raises:
        TypeError: a non-uint8 image.
        ValueError: a wrongly shaped or empty image.

    Example:
        >>> h = sum(qfast.ColorHistogram(qfast.samples.load(n)) for n in ("parrots", "parrots"))
        >>> h.total == 2 * qfast.samples.load("parrots").shape[0] * qfast.samples.load("parrots").shape[1]
        True
        >>> qfast.kmeans_palette(h, 16).shape
        (16, 3)
    """

    __slots__ = ("_h",)

    def __init__(self, image: Any = None) -> None:
        self._h = _core.ColorHistogram() if image is None else _core.ColorHistogram.of_image(as_image(image))

    @classmethod
    def _wrap(cls, h: Any) -> ColorHistogram:
        out = cls.__new__(cls)
        out._h = h
        return out

    @classmethod
    def from_images(cls, images: Any) -> ColorHistogram:
        """The sum of the histograms of a list (or any iterable) of images, built one image at a time."""
        return cls.sum(cls(im) for im in images)

    @classmethod
    def sum(cls, histograms: Any) -> ColorHistogram:
        """The sum of an iterable of histograms, in bounded memory. Small sums merge sorted lists (pairwise, as a
        binary counter does); once they hold more than :data:`DENSE_AFTER` colours, they go on in one table of 2**24
        counts (128 MiB, however many histograms follow). The result is the same either way: exact counts.

        Raises:
            TypeError: an item that is not a ColorHistogram.
        """
        acc = HistogramSum()
        for h in histograms:
            acc.add(h)
        return acc.total()

    @classmethod
    def from_bytes(cls, data: bytes) -> ColorHistogram:
        """Parses :meth:`to_bytes`. Raises ValueError on anything else (every byte is checked)."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data: expected bytes, got {type(data).__name__}")
        return cls._wrap(_core.ColorHistogram.from_bytes(bytes(data)))

    def to_bytes(self) -> bytes:
        """Compact bytes: a magic and version, then per colour its gap to the previous one and its count (varints)."""
        return self._h.to_bytes()

    @property
    def total(self) -> int:
        """The number of pixels counted."""
        return int(self._h.total)

    def colors(self) -> np.ndarray:
        """The distinct colours, uint8 (n, 3), sorted by R, then G, then B."""
        return self._h.colors()

    def counts(self) -> np.ndarray:
        """Each colour's pixel count, uint64 (n,), in the order of :meth:`colors`."""
        return self._h.counts()

    def __len__(self) -> int:
        return len(self._h)

    def __add__(self, other: Any) -> ColorHistogram:
        if isinstance(other, ColorHistogram):
            return ColorHistogram._wrap(self._h.merge(other._h))
        return NotImplemented

    def __radd__(self, other: Any) -> ColorHistogram:
        # sum() starts from 0.
        if isinstance(other, int) and other == 0:
            return self
        return NotImplemented

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ColorHistogram):
            return NotImplemented
        return bool(self._h.equals(other._h))

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, tuple[bytes]]:
        return (ColorHistogram.from_bytes, (self.to_bytes(),))

    def __repr__(self) -> str:
        return f"ColorHistogram({len(self)} colours, {self.total} pixels)"


#: :class:`HistogramSum` switches from merging sorted lists to a dense table of 2**24 counts past this many colours
#: (24 MiB as lists; the table is 128 MiB).
DENSE_AFTER = 1 << 21


class HistogramSum:
    """A running sum of :class:`ColorHistogram` s in bounded memory: partial sums of equal rank merge (so n
    histograms cost about colours x log n), and once the partial sums hold more than :data:`DENSE_AFTER` colours they
    are folded into a dense table of 2**24 counts, which every later histogram is added into. Peak memory: about
    3 x 24 MiB before the switch, 128 MiB plus one histogram after, whatever the number of histograms.

    Example:
        >>> acc = qfast.palette.HistogramSum()
        >>> for name in qfast.samples.names():
        ...     acc.add(qfast.ColorHistogram(qfast.samples.load(name)))
        >>> qfast.kmeans_palette(acc.total(), 8).shape
        (8, 3)
    """

    def __init__(self) -> None:
        self._stack: list[tuple[int, ColorHistogram]] = []
        self._dense: Any = None

    def add(self, h: ColorHistogram) -> None:
        """Adds one histogram. Raises TypeError for anything else."""
        if not isinstance(h, ColorHistogram):
            raise TypeError(f"histograms: expected ColorHistogram items, got {type(h).__name__}")
        if self._dense is not None:
            self._dense.add(h._h)
            return
        rank = 0
        while self._stack and self._stack[-1][0] == rank:
            h = self._stack.pop()[1] + h
            rank += 1
        self._stack.append((rank, h))
        if sum(len(x) for _, x in self._stack) > DENSE_AFTER:
            self._dense = _core.ColorHistogramSum()
            for _, x in self._stack:
                self._dense.add(x._h)
            self._stack = []

    def total(self) -> ColorHistogram:
        """The sum of everything added so far."""
        if self._dense is not None:
            return ColorHistogram._wrap(self._dense.histogram())
        out = ColorHistogram()
        for _, x in reversed(self._stack):
            out = x + out
        return out


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
            Or a :class:`ColorHistogram` of the pixels: the same palette as the images it counted.
        k: palette size, 1..65536. ``k = 1`` gives the mean colour. Above 256 colours the palette no longer fits
            PNG or GIF; it serves remapping into uint16 indices (colour tokens, for instance).
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
        ValueError: k outside 1..65536, an empty list or histogram, images of different channel counts, a wrongly
            shaped image, an unknown method or colour space, a negative tol.

    Example:
        >>> img = qfast.samples.load("parrots")
        >>> qfast.kmeans_palette(img, 16).shape
        (16, 3)
    """
    kk = as_int(k, "k", 1, MAX_COLORS)
    sd = as_int(seed, "seed", 0, _SEED_MAX)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    m = as_choice(method, "method", METHODS)
    it = _max_iter(max_iter, kk)
    if isinstance(images, ColorHistogram):
        return _core.kmeans_palette_histogram(images._h, kk, sd, cs, m, it, _tol(tol))
    imgs = as_images(images)
    return _core.kmeans_palette(imgs, kk, sd, cs, m, it, _tol(tol))


def remap(
    image: Any, palette: Any, *, dither: str = "none", color_space: str = "rgb", out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Maps every pixel to a palette index: its nearest colour, or a dithered choice.

    Args:
        image: uint8 array (H, W) or (H, W, C) with C in 1..4, or a PIL image (alpha is ignored).
        palette: (n, 3) RGB colours, n in 1..65536, integers 0..255 (any palette: from :func:`kmeans_palette` of this
            or another image, or a fixed one), or a PIL "P" (indexed) image: its palette, up to the highest index
            it uses, so the indices returned are that image's.
        dither: ``"none"`` (the exact nearest colour; ties go to the lowest index), ``"floyd-steinberg"`` or
            ``"atkinson"`` (error diffusion) or ``"bayer4"``/``"bayer8"`` (ordered, scaled by the palette's spacing).
        color_space: where "nearest" is measured: ``"rgb"`` or ``"oklab"``.
        out: an array (H, W) (or (N, H, W) for a stack) of the indices' dtype to write them into; checked and
            returned.

    A stack of images ``(N, H, W, C)`` gives ``(N, H, W)`` indices, each image mapped on its own (dithering never
    crosses from one image into the next).

    Returns:
        array (H, W) of palette indices: uint8 for up to 256 colours, uint16 above (:func:`index_dtype`).

    Raises:
        TypeError: a non-uint8 image, a palette that is not integers, ``out`` of another dtype.
        ValueError: an empty palette, one not of shape (n, 3) or with values outside 0..255, an unknown dither or
            colour space, a wrongly shaped image.

    Example:
        >>> idx = qfast.remap(img, [[0, 0, 0], [255, 255, 255]], dither="floyd-steinberg")
        >>> idx.shape == img.shape[:2]
        True
    """
    pal = as_palette(palette)
    d = as_choice(dither, "dither", DITHERS)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    img, stack = stack_input(image, "image")
    if stack is None:
        res = _core.remap(img, pal, cs, d)
        target, _ = check_out(out, res.shape, (), res.dtype)
        if target is None:
            return res
        np.copyto(target, res)
        return target
    frames = img.reshape(stack)
    dt = index_dtype(len(pal))
    target, _ = check_out(out, stack[:3], (), dt)
    result = np.empty(stack[:3], dt) if target is None else target
    for i, frame in enumerate(frames):
        result[i] = _core.remap(frame, pal, cs, d)
    return result


@dataclass(frozen=True)
class ColorQuantization:
    """An image reduced to a palette.

    Attributes:
        palette: uint8 array (n, 3) of RGB colours.
        indices: array (H, W): each pixel's palette index, uint8 (uint16 for more than 256 colours).
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
        carried; use :meth:`image` for RGBA).

        Raises:
            ValueError: a palette of more than 256 colours (PNG and GIF hold 256 at most; :meth:`image` gives the
                colours of any palette).
        """
        if len(self.palette) > 256:
            raise ValueError(
                f"palette: an indexed (PNG, GIF) image holds at most 256 colours, this one has {len(self.palette)}; "
                "use .image() for the full-colour result"
            )
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
        k: palette size, 1..65536 (above 256, uint16 indices and no indexed PNG or GIF).
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
    kk = as_int(k, "k", 1, MAX_COLORS)
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
