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
or PIL images.

Alpha (``alpha="palette"``, the default) is a channel of its own: an image with transparency gets an RGBA palette
(n, 4), found and mapped in premultiplied space, where a colour ``(r, g, b, a)`` is the point
``(r * a, g * a, b * a, 255 * a) / 255``. Euclidean distance there weighs colour error by alpha, as libimagequant
does: invisible pixels cost nothing and all share one entry, ``(0, 0, 0, 0)`` (index 0, reserved whenever a pixel
has alpha 0 and k >= 2), and alpha itself counts like a colour channel. With ``color_space="oklab"`` the colour is
Oklab (times 255, so 0..255 like the bytes) premultiplied the same way, plus alpha on the same 0..255 scale. Grey with
alpha (LA) gets grey RGBA entries (r = g = b). The search: the distinct RGBA colours and their counts (cells of 6
bits per channel above 32768 colours), median cut (or k-means++) and weighted Lloyd iterations in 4-D, then two exact
Lloyd steps on the distinct colours; entries are sorted by alpha (the transparent one first, so PNG's ``tRNS`` chunk
stays short). Mapping is exact (ties to the lowest index); error diffusion works in the same 4-D space, and a fully
transparent pixel takes the transparent entry and neither takes nor passes on error; ordered dithering offsets the
colour, and alpha where it is strictly between 0 and 255. An image whose alpha is 255 everywhere takes the RGB path
and gets exactly the RGB palette plus an alpha column of 255; one with on/off transparency (alpha 0 and 255 only)
gets the transparent entry and the RGB pipeline's palette of its opaque pixels (k - 1 colours), mapped as above.
RGBA palettes hold at most 256 colours. ``alpha="keep"`` is the old behaviour: RGB palettes, alpha takes no part,
and :meth:`ColorQuantization.image` gives the source's alpha back untouched.

Quality targets (``quality=(min, max)``) use pngquant's 0-100 scale, measured as libimagequant does: see
:func:`mse_of_quality` and :func:`pngquant_mse`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

import numpy as np

from . import _core
from ._arrays import check_out, stack_input
from ._validate import as_choice, as_float, as_image, as_images, as_int, as_palette, channels_of, has_alpha

DITHERS = ("none", "floyd-steinberg", "atkinson", "bayer4", "bayer8")
METHODS = ("kmeans", "median-cut", "kmeans++")
COLOR_SPACES = ("rgb", "oklab")
ALPHAS = ("palette", "keep")

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
        return _core.default_max_iter(k)
    return as_int(value, "max_iter", 0, 1_000_000)


def _tol(value: Any) -> float:
    t = as_float(value, "tol")
    if not (t >= 0 and np.isfinite(t)):
        raise ValueError(f"tol: expected a finite number >= 0, got {t}")
    return t


class QualityError(ValueError):
    """Even the largest palette allowed cannot reach the minimum of ``quality=(min, max)`` (pngquant's exit code 99).

    Attributes:
        quality: the quality (0..100) the largest palette reached.
        minimum: the minimum asked for.
        colors: the palette size tried.
    """

    def __init__(self, message: str, quality: int, minimum: int, colors: int) -> None:
        super().__init__(message)
        self.quality = quality
        self.minimum = minimum
        self.colors = colors


def mse_of_quality(quality: float) -> float:
    """The largest mean squared error (per channel, on the 0..255 scale) that reaches ``quality`` on pngquant's
    0-100 scale: libimagequant's curve, ``(max(0, 0.016 / (0.001 + q) - 0.001) + 2.5 / (210 + q)**1.2 * (100.1 - q)
    / 100) * 65536 / 6`` (its internal MSE, a sum over channels of values in 0..1, times 65536 / 6), with 0 for
    q = 100 and infinity for q = 0. For example 80 -> 6.1 (PSNR 40.3 dB), 65 -> 11.3 (37.6 dB).

    The error this is compared with is libimagequant's (:func:`pngquant_mse`), not :attr:`ColorQuantization.mse`,
    so that a quality means what it means to pngquant.

    Example:
        >>> round(qfast.palette.mse_of_quality(80), 2)
        6.09
    """
    q = float(quality)
    if q <= 0:
        return float("inf")
    if q >= 100:
        return 0.0
    fudge = max(0.0, 0.016 / (0.001 + q) - 0.001)
    return (fudge + 2.5 / (210.0 + q) ** 1.2 * (100.1 - q) / 100.0) * 65536.0 / 6.0


#: libimagequant's tolerance in :func:`quality_of_mse` (1e-6 of its internal MSE), on qfast's scale.
_QUALITY_EPS = 1e-6 * 65536.0 / 6.0


def quality_of_mse(mse: float) -> int:
    """The quality (0..100, pngquant's scale) of an error on :func:`pngquant_mse`'s scale: the largest q whose
    :func:`mse_of_quality` the error does not exceed (0 if none does), as libimagequant's ``mse_to_quality``.

    Example:
        >>> qfast.palette.quality_of_mse(0.0), qfast.palette.quality_of_mse(6.0), qfast.palette.quality_of_mse(1e4)
        (100, 80, 0)
    """
    m = float(mse)
    for q in range(100, 0, -1):
        if m <= mse_of_quality(q) + _QUALITY_EPS:
            return q
    return 0


#: libimagequant's internal gamma and the sRGB gamma it assumes, and its channel weights (lib/pal.rs).
_LIQ_GAMMA = 0.57 / 0.45455
_LIQ_WEIGHTS = (0.5, 1.0, 0.45)
_LIQ_WEIGHT_A = 0.625


def _liq_pixels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """libimagequant's internal pixels of uint8 rows (H, W, C): premultiplied RGB in its gamma, times its channel
    weights (H, W, 3), and alpha times its weight (H, W, 1)."""
    x = x[..., None] if x.ndim == 2 else x
    c = channels_of(x)
    colour = x[..., : (3 if c >= 3 else 1)].astype(np.float64) / 255.0
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    a = x[..., -1:].astype(np.float64) / 255.0 if c in (2, 4) else np.ones(x.shape[:2] + (1,))
    lut = (np.arange(256) / 255.0) ** _LIQ_GAMMA
    colour = lut[np.round(colour * 255).astype(np.intp)] * np.asarray(_LIQ_WEIGHTS) * a
    return colour, a * _LIQ_WEIGHT_A


def pngquant_mse(source: Any, image: Any) -> float:
    """The error pngquant's quality measures, on its "standard" scale (per channel, 0..255, as pngquant prints it):
    libimagequant's colour difference averaged over the pixels, times 65536 / 6 / 0.45 (its
    ``internal_mse_to_standard_mse``). The difference is taken between premultiplied pixels in libimagequant's
    internal gamma (sRGB to the power 0.57 / 0.45455), with channel weights 0.5 (red), 1 (green), 0.45 (blue) and
    0.625 (alpha), as the larger of the error seen on black and on white behind the pixel, summed over the colour
    channels. Images without alpha count as opaque.

    Example:
        >>> q = qfast.quantize_colors(img, 64)
        >>> qfast.palette.quality_of_mse(qfast.palette.pngquant_mse(img, q.image())) == q.quality
        True
    """
    a, b = np.asarray(source), np.asarray(image)
    total = 0.0
    for y in range(0, a.shape[0], 256):
        (ca, aa), (cb, ab) = _liq_pixels(a[y : y + 256]), _liq_pixels(b[y : y + 256])
        black = ca - cb
        white = black + (ab - aa)
        total += float(np.maximum(black * black, white * white).sum())
    return total / (a.shape[0] * a.shape[1]) * 65536.0 / 6.0 / 0.45


def _quality_arg(value: Any) -> Optional[tuple[int, int]]:
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"quality: expected (min, max), two ints 0..100, got {value!r}")
    lo, hi = (as_int(v, "quality", 0, 100) for v in value)
    if lo > hi:
        raise ValueError(f"quality: expected min <= max, got ({lo}, {hi})")
    return lo, hi


def _translucent(img: np.ndarray) -> bool:
    """Whether an image has an alpha channel with some value other than 255."""
    return has_alpha(channels_of(img)) and bool((img[..., -1] != 255).any())


def _on_off_palette(imgs: list[np.ndarray], k: int, *args: Any) -> Optional[np.ndarray]:
    """For images whose alpha is only 0 and 255 (some 0): the transparent entry and the RGB palette of the opaque
    pixels (``k - 1`` colours, the RGB pipeline, ``args`` as for ``_core.kmeans_palette``); None otherwise (or for
    k = 1, or no opaque pixel), which leaves it to the RGBA pipeline."""
    if k < 2 or not all(has_alpha(channels_of(im)) for im in imgs):
        return None
    alphas = [im[..., -1] for im in imgs]
    if not all(((a == 0) | (a == 255)).all() for a in alphas) or not any((a == 0).any() for a in alphas):
        return None
    opaque = [np.ascontiguousarray(im[a == 255][:, None, :-1]) for im, a in zip(imgs, alphas)]
    opaque = [o for o in opaque if len(o)]
    if not opaque:
        return None
    pal = _core.kmeans_palette(opaque, k - 1, *args)
    return np.ascontiguousarray(np.vstack([np.zeros((1, 4), np.uint8), _opaque(pal)]))


def _opaque(pal: np.ndarray) -> np.ndarray:
    """An RGB palette as RGBA with alpha 255."""
    return np.ascontiguousarray(np.column_stack([pal, np.full(len(pal), 255, np.uint8)]))


def _posterize_table(bits: int) -> np.ndarray:
    """For each byte, the nearest value of pngquant's posterized set (``(c & ~m) | (c >> (8 - bits))``, m the low
    ``bits`` bits: the top bits repeated in the low ones, so 0 and 255 stay), ties to the lower."""
    c = np.arange(256)
    values = np.unique((c & ~((1 << bits) - 1)) | (c >> (8 - bits)))
    d = np.abs(c[:, None] - values[None, :])
    return values[np.argmin(d, axis=1)].astype(np.uint8)


def _posterize(pal: np.ndarray, bits: int) -> np.ndarray:
    """The palette with every channel posterized to 8 - ``bits`` bits, duplicates removed (first kept, in order)."""
    p = _posterize_table(bits)[pal]
    _, first = np.unique(p, axis=0, return_index=True)
    return np.ascontiguousarray(p[np.sort(first)])


def premultiplied_mse(source: np.ndarray, image: np.ndarray) -> float:
    """The mean squared error of two images with alpha, in premultiplied form: each colour channel times alpha / 255,
    and alpha itself, averaged over pixels and channels (so for LA two channels, for RGBA four). Invisible pixels
    cost nothing whatever their colour; for opaque images this is the plain MSE over all channels, alpha included
    (0 there). Images without alpha count as opaque."""

    def split(x: np.ndarray, rows: slice) -> tuple[np.ndarray, np.ndarray]:
        x = x[rows].astype(np.float64)
        if x.ndim == 2:
            x = x[..., None]
        if x.shape[2] in (2, 4):
            colour, a = x[..., :-1], x[..., -1:]
        else:
            colour, a = x, np.full(x.shape[:2] + (1,), 255.0)
        return colour * (a / 255.0), a

    h = source.shape[0]
    total = 0.0
    for y in range(0, h, 256):
        rows = slice(y, y + 256)
        (ca, aa), (cb, ab) = split(source, rows), split(image, rows)
        if ca.shape[2] != cb.shape[2]:  # grey against colour: grey is (v, v, v)
            ca, cb = np.broadcast_to(ca, ca.shape[:2] + (3,)), np.broadcast_to(cb, cb.shape[:2] + (3,))
        total += float(((ca - cb) ** 2).sum() + ((aa - ab) ** 2).sum())
    channels = ca.shape[2] + 1
    return total / (source.shape[0] * source.shape[1] * channels)


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
    histograms cost about colours x log n), and once the partial sums hold more than ``dense_after`` colours
    (default :data:`DENSE_AFTER`) they are folded into a dense table of 2**24 counts, which every later histogram is
    added into. Peak memory: about 3 x 24 MiB before the switch, 128 MiB plus one histogram after, whatever the
    number of histograms.

    Args:
        dense_after: the switch, in colours held as lists: 0 for the table from the first histogram on (the same
            memory for any number of histograms: what ``qfast batch palette --shared`` uses), None for lists only,
            never the table (for a sum bounded by its inputs, such as a worker's chunk of files, whose result
            travels as a list anyway).

    Example:
        >>> acc = qfast.palette.HistogramSum()
        >>> for name in qfast.samples.names():
        ...     acc.add(qfast.ColorHistogram(qfast.samples.load(name)))
        >>> qfast.kmeans_palette(acc.total(), 8).shape
        (8, 3)
    """

    def __init__(self, *, dense_after: Optional[int] = DENSE_AFTER) -> None:
        if dense_after is not None:
            from ._validate import as_int

            as_int(dense_after, "dense_after", 0)
        self._stack: list[tuple[int, ColorHistogram]] = []
        self._dense: Any = None
        self._pixels = 0
        self._dense_after = dense_after

    @property
    def pixels(self) -> int:
        """The number of pixels counted so far."""
        return self._pixels

    def add(self, h: ColorHistogram) -> None:
        """Adds one histogram. Raises TypeError for anything else."""
        if not isinstance(h, ColorHistogram):
            raise TypeError(f"histograms: expected ColorHistogram items, got {type(h).__name__}")
        self._pixels += h.total
        if self._dense is not None:
            self._dense.add(h._h)
            return
        rank = 0
        while self._stack and self._stack[-1][0] == rank:
            h = self._stack.pop()[1] + h
            rank += 1
        self._stack.append((rank, h))
        if self._dense_after is not None and sum(len(x) for _, x in self._stack) > self._dense_after:
            self._dense = _core.ColorHistogramSum()
            for _, x in self._stack:
                self._dense.add(x._h)
            self._stack = []

    def _counts(self) -> Any:
        """What :func:`kmeans_palette` clusters: the dense table itself once there is one (never listed as colours:
        a dataset's palette then costs the table and the grid's cells, whatever the number of images), else the
        histogram of the sum."""
        return self._dense if self._dense is not None else self.total()._h

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
    alpha: str = "palette",
) -> np.ndarray:
    """A palette of ``k`` colours that minimises the squared error of the images mapped onto it (k-means).

    Args:
        images: one image or a list of images (one palette for all of them; same channel count). uint8 arrays
            (H, W) or (H, W, C) with C in 1..4, or PIL images. Grey images give grey palettes. Or a
            :class:`ColorHistogram` of the pixels: the same palette as the images it counted (colours only); or a
            :class:`HistogramSum` (the same palette as its total, clustered from its dense table when it has one).
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
        alpha: for images with alpha (LA, RGBA): ``"palette"`` (the default) gives an RGBA palette (n, 4) in which
            alpha takes part (see the module's notes), ``"keep"`` an RGB
            palette of the colours alone (alpha ignored). No effect on images without alpha.

    Returns:
        uint8 array (n, 3) of RGB colours, or (n, 4) RGBA for images with alpha; n = k unless the images hold fewer
        than k distinct colours (then n is their number and the rows are exactly those colours).

    Raises:
        TypeError: a non-uint8 image (floats included), a non-int k, seed or max_iter.
        ValueError: k outside 1..65536 (1..256 for an RGBA palette), an empty list or histogram, images of
            different channel counts, a wrongly shaped image, an unknown method, colour space or alpha, a negative
            tol.

    Example:
        >>> img = qfast.samples.load("parrots")
        >>> qfast.kmeans_palette(img, 16).shape
        (16, 3)
        >>> rgba = np.dstack([img, np.full(img.shape[:2], 128, np.uint8)])
        >>> qfast.kmeans_palette(rgba, 16).shape
        (16, 4)
    """
    kk = as_int(k, "k", 1, MAX_COLORS)
    sd = as_int(seed, "seed", 0, _SEED_MAX)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    m = as_choice(method, "method", METHODS)
    it = _max_iter(max_iter, kk)
    if isinstance(images, (ColorHistogram, HistogramSum)):
        counts = images._h if isinstance(images, ColorHistogram) else images._counts()
        return _core.kmeans_palette_histogram(counts, kk, sd, cs, m, it, _tol(tol))
    a = as_choice(alpha, "alpha", ALPHAS)
    imgs = as_images(images)
    if a == "palette" and has_alpha(channels_of(imgs[0])):
        if any(_translucent(im) for im in imgs):
            on_off = _on_off_palette(imgs, kk, sd, cs, m, it, _tol(tol))
            if on_off is not None:
                return on_off
            return _core.kmeans_palette_alpha(imgs, kk, sd, cs, m, it, _tol(tol))
        return _opaque(_core.kmeans_palette(imgs, kk, sd, cs, m, it, _tol(tol)))
    return _core.kmeans_palette(imgs, kk, sd, cs, m, it, _tol(tol))


def remap(
    image: Any, palette: Any, *, dither: str = "none", color_space: str = "rgb", out: Optional[np.ndarray] = None
) -> np.ndarray:
    """Maps every pixel to a palette index: its nearest colour, or a dithered choice.

    Args:
        image: uint8 array (H, W) or (H, W, C) with C in 1..4, or a PIL image.
        palette: (n, 3) RGB colours (n in 1..65536) or (n, 4) RGBA (n in 1..256), integers 0..255 (any palette: from
            :func:`kmeans_palette` of this or another image, or a fixed one), or a PIL "P" (indexed) image: its
            palette (RGBA when it has transparency), up to the highest index it uses, so the indices returned are
            that image's. An RGB palette maps the colours alone (an image's alpha is ignored); an RGBA palette maps
            in premultiplied RGBA (an image without alpha counts as opaque), unless both are opaque, which is the
            RGB mapping.
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
        ValueError: an empty palette, one not of shape (n, 3) or (n, 4) or with values outside 0..255, an unknown
            dither or colour space, a wrongly shaped image.

    Example:
        >>> idx = qfast.remap(img, [[0, 0, 0], [255, 255, 255]], dither="floyd-steinberg")
        >>> idx.shape == img.shape[:2]
        True
    """
    pal = as_palette(palette, alpha=True)
    d = as_choice(dither, "dither", DITHERS)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    img, stack = stack_input(image, "image")

    def one(frame: np.ndarray) -> np.ndarray:
        if pal.shape[1] == 3:
            return _core.remap(frame, pal, cs, d)
        if (pal[:, 3] == 255).all() and not _translucent(frame):
            return _core.remap(frame, np.ascontiguousarray(pal[:, :3]), cs, d)
        return _core.remap_alpha(frame, pal, cs, d)

    if stack is None:
        res = one(img)
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
        result[i] = one(np.ascontiguousarray(frame))
    return result


@dataclass(frozen=True)
class ColorQuantization:
    """An image reduced to a palette.

    Attributes:
        palette: uint8 array (n, 3) of RGB colours, or (n, 4) RGBA (images with alpha, ``alpha="palette"``).
        indices: array (H, W): each pixel's palette index, uint8 (uint16 for more than 256 colours).
        source: the quantized image (uint8, as given, after conversion from PIL).
    """

    palette: np.ndarray
    indices: np.ndarray
    source: np.ndarray = field(repr=False)

    def image(self) -> np.ndarray:
        """The reconstruction, in the source's layout: (H, W) and (H, W, 1) grey, (H, W, 2) grey and alpha,
        (H, W, 3) RGB or (H, W, 4) RGBA. With an RGBA palette every channel comes from the palette ((H, W, 2) for a
        grey-and-alpha source, (H, W, 4) otherwise); with an RGB palette alpha is the source's, untouched."""
        src = self.source
        c = channels_of(src)
        if self.palette.shape[1] == 4:
            rgba = self.palette[self.indices]
            return np.ascontiguousarray(rgba[..., [0, 3]]) if c == 2 else rgba
        rgb = self.palette[self.indices]
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
        """Mean squared error between the source and :meth:`image`. With an RGB palette: over the colour channels
        (alpha excluded). With an RGBA palette: :func:`premultiplied_mse`, over all channels with each colour
        channel times alpha / 255 (invisible pixels cost nothing; for an opaque image, the plain MSE over all four
        channels, so 3/4 of the colour-only one)."""
        src = self.source
        if self.palette.shape[1] == 4:
            return premultiplied_mse(src, self.image())
        c = channels_of(src)
        a, b = src, self.image()
        if c in (2, 4):
            a, b = np.ascontiguousarray(src[..., :-1]), np.ascontiguousarray(b[..., :-1])
        return float(_core.mse(a, b))

    @property
    def quality(self) -> int:
        """The result's quality on pngquant's 0-100 scale: :func:`quality_of_mse` of :func:`pngquant_mse`, the
        error libimagequant measures (so the numbers agree with pngquant's for the same images)."""
        return quality_of_mse(pngquant_mse(self.source, self.image()))

    def to_pil(self, format: str = "png") -> Any:
        """A Pillow "P" (palette) image of the indices and palette, ready to save.

        Args:
            format: ``"png"`` (the default): an RGBA palette is stored whole (Pillow writes it as PNG's ``tRNS``
                chunk). ``"gif"``: GIF has one transparent index and no partial transparency, so every entry with
                alpha below 128 becomes that one index (the first such entry; ``info["transparency"]``) and every
                other entry is opaque. RGB palettes, and RGBA ones whose alpha is all 255, are the same either way
                (no transparency).

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

        fmt = as_choice(format, "format", ("png", "gif"))
        h, w = self.indices.shape
        pal = self.palette.astype(np.uint8)
        idx = self.indices
        transparent = None
        if pal.shape[1] == 4 and (pal[:, 3] == 255).all():
            pal = np.ascontiguousarray(pal[:, :3])  # opaque: no tRNS chunk, no transparent index
        if pal.shape[1] == 4 and fmt == "gif":
            clear = pal[:, 3] < 128
            rgb = np.ascontiguousarray(pal[:, :3])
            if clear.any():
                transparent = int(np.argmax(clear))
                lut = np.arange(len(pal), dtype=np.uint8)
                lut[clear] = transparent
                idx = lut[idx]
                rgb[transparent] = 0
            pal = rgb
        im = Image.frombytes("P", (w, h), np.ascontiguousarray(idx).tobytes())
        im.putpalette(pal.ravel().tolist(), rawmode="RGBA" if pal.shape[1] == 4 else "RGB")
        if transparent is not None:
            im.info["transparency"] = transparent
        return im


def quantize_colors(
    image: Any,
    k: int | None = None,
    *,
    dither: str = "none",
    method: str = "kmeans",
    seed: int = 0,
    color_space: str = "rgb",
    max_iter: int | None = None,
    tol: float = 0.0,
    alpha: str = "palette",
    quality: Any = None,
    posterize: int = 0,
) -> ColorQuantization:
    """Reduces an image to ``k`` colours: :func:`kmeans_palette` then :func:`remap`, in one call.

    Args:
        image: uint8 array (H, W) or (H, W, C) with C in 1..4, or a PIL image.
        k: palette size, 1..65536 (above 256, uint16 indices and no indexed PNG or GIF; RGBA palettes 1..256). With
            ``quality``, the most colours to try (default 256).
        dither: ``"none"``, ``"floyd-steinberg"``, ``"atkinson"``, ``"bayer4"`` or ``"bayer8"``.
        method: ``"kmeans"`` (best), ``"median-cut"`` (fastest) or ``"kmeans++"`` (seeded by ``seed``).
        seed: seed of the ``"kmeans++"`` sampling.
        color_space: ``"rgb"`` or ``"oklab"``, for both the palette and the remap.
        max_iter, tol: as for :func:`kmeans_palette`.
        alpha: for images with alpha: ``"palette"`` (the default; an RGBA palette, alpha in the clustering and the
            mapping, :meth:`ColorQuantization.image` all from the palette) or ``"keep"`` (an RGB palette of the
            colours alone; the source's alpha comes back untouched).
        quality: ``(min, max)``, ints 0..100 on pngquant's scale (:attr:`ColorQuantization.quality`, measured as
            libimagequant measures it: :func:`pngquant_mse`, :func:`mse_of_quality`): the fewest colours
            (up to ``k``) whose result reaches ``max``, found by bisection on k (it assumes the quality rises with
            k, as it does in practice; the result always reaches ``max`` when the largest palette does). When the
            largest palette reaches ``min`` but not ``max`` it is the result; below ``min``, :class:`QualityError`.
            The quality is that of the result as mapped (dithering included).
        posterize: pngquant's ``--posterize``: 0..4 bits of precision taken off every palette channel (alpha too):
            each value is rounded to the nearest one whose low bits repeat its top bits (4: 17 levels apart, for
            ARGB4444 displays), duplicates dropped, then the image is mapped again. 0 (the default): none.

    Returns:
        A :class:`ColorQuantization` with ``.palette``, ``.indices``, ``.image()``, ``.mse``, ``.quality`` and
        ``.to_pil()``.

    Raises:
        TypeError, ValueError: as for :func:`kmeans_palette` and :func:`remap`; neither ``k`` nor ``quality``; a
            ``quality`` that is not two ints 0..100 with min <= max; ``posterize`` outside 0..4.
        QualityError: ``k`` colours (256 by default) do not reach the minimum quality.

    Example:
        >>> q = qfast.quantize_colors(img, 16, dither="floyd-steinberg")
        >>> q.to_pil().save("parrots-16.png")
        >>> q = qfast.quantize_colors(img, quality=(50, 70))
        >>> q.quality >= 70 and len(q.palette) < 256
        True
    """
    img = as_image(image)
    target = _quality_arg(quality)
    if k is None and target is None:
        raise TypeError("k: give a palette size k, or quality=(min, max)")
    kk = 256 if k is None else as_int(k, "k", 1, MAX_COLORS)
    d = as_choice(dither, "dither", DITHERS)
    m = as_choice(method, "method", METHODS)
    sd = as_int(seed, "seed", 0, _SEED_MAX)
    cs = as_choice(color_space, "color_space", COLOR_SPACES)
    a = as_choice(alpha, "alpha", ALPHAS)
    bits = as_int(posterize, "posterize", 0, 4)
    t = _tol(tol)
    translucent = a == "palette" and _translucent(img)

    def run(n: int) -> ColorQuantization:
        it = _max_iter(max_iter, n)
        on_off = _on_off_palette([img], n, sd, cs, m, it, t) if translucent else None
        if on_off is not None:
            pal, idx = on_off, _core.remap_alpha(img, on_off, cs, d)
        elif translucent:
            pal, idx = _core.quantize_colors_alpha(img, n, sd, cs, m, it, t, d)
        else:
            pal, idx = _core.quantize_colors(img, n, sd, cs, m, it, t, d)
            if a == "palette" and has_alpha(channels_of(img)):
                pal = _opaque(pal)
        if bits:
            pal = _posterize(pal, bits)
            idx = remap(img, pal, dither=d, color_space=cs)
        return ColorQuantization(pal, idx, img)

    if target is None:
        return run(kk)
    return _fewest_colors(run, kk, target)


def _fewest_colors(run: Any, cap: int, target: tuple[int, int]) -> ColorQuantization:
    """Bisection on k in 1..cap for the fewest colours whose quality reaches ``target[1]`` (see quantize_colors)."""
    lo_q, hi_q = target
    best = run(cap)
    reached = best.quality
    if reached < lo_q:
        raise QualityError(
            f"quality: {len(best.palette)} colours reach quality {reached}, below the minimum {lo_q}",
            reached,
            lo_q,
            len(best.palette),
        )
    if reached < hi_q:
        return best
    lo, hi = 1, min(cap, len(best.palette))
    while lo < hi:
        mid = (lo + hi) // 2
        r = run(mid)
        if r.quality >= hi_q:
            hi, best = mid, r
        else:
            lo = mid + 1
    return best


def sweep(image: Any, ks: list[int] | None = None, **kwargs: Any) -> list[ColorQuantization]:
    """:func:`quantize_colors` at several palette sizes (default 1, 5, 10, 20, 40); keyword arguments as there."""
    img = as_image(image)
    ks = [1, 5, 10, 20, 40] if ks is None else list(ks)
    if not ks:
        raise ValueError("ks: expected at least one palette size")
    return [quantize_colors(img, k, **kwargs) for k in ks]
