"""Scalar quantizers: uniform (any level count per channel), Lloyd-Max and mu-law companding.

Alpha is kept unless asked for: given one level count (or bit depth) for all channels, every quantizer here leaves the
alpha channel of an LA or RGBA image (its last channel) as it was; a list of one value per channel quantizes alpha
too, to the count given for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from . import _core
from ._validate import Levels, as_image, as_int, as_positive, channels_of, has_alpha, resolve_levels

_RECONSTRUCTIONS = ("midpoint", "full-range")


def _reconstruction(value: Any) -> str:
    if value not in _RECONSTRUCTIONS:
        raise ValueError(f"reconstruction: expected 'midpoint' or 'full-range', got {value!r}")
    return str(value)


_DITHERS = ("none", "bayer4", "bayer8", "floyd-steinberg")


def _dither(value: Any) -> str:
    if not isinstance(value, str) or value not in _DITHERS:
        raise ValueError(f"dither: expected 'none', 'bayer4', 'bayer8' or 'floyd-steinberg', got {value!r}")
    return value


def uniform_indices(
    image: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    dither: str = "none",
    reconstruction: str = "midpoint",
) -> np.ndarray:
    """Uniform quantization indices: exactly ``floor(x * L / 256)`` for each value x (without dithering).

    Args:
        image: uint8 array (H, W) or (H, W, C), C in 1..4, any strides; or a PIL image.
        levels: level count L in 2..256, one int for all channels or one per channel.
        bits: instead of ``levels``, a bit depth 1..8 (L = 2**bits), an int or one per channel.
        dither: ``"none"``; ``"bayer4"`` or ``"bayer8"`` (ordered: at row y, column x the index is
            ``clamp(floor(v L / 256 + (2 M[y % n][x % n] + 1) / (2 n**2) - 1/2), 0, L - 1)`` with M the n x n Bayer
            matrix); or ``"floyd-steinberg"`` (error diffusion, raster order, against ``reconstruction``'s values).
            A channel at 256 levels (alpha, unless given levels) is never dithered.
        reconstruction: the reconstruction the indices are meant for; only error diffusion depends on it.

    Returns:
        uint8 array of the image's shape with values in 0..L-1.

    Raises:
        TypeError: wrong dtype or type; both or neither of ``levels`` and ``bits``.
        ValueError: wrong shape, empty image, levels or bits out of range or of the wrong length.

    Example:
        >>> qfast.uniform_indices(np.array([[0, 127, 128, 255]], np.uint8), 4)
        array([[0, 1, 2, 3]], dtype=uint8)
    """
    img = as_image(image)
    lv = resolve_levels(levels, bits, channels_of(img))
    rec, how = _reconstruction(reconstruction), _dither(dither)
    if how != "none":
        return _core.dither_uniform(img, lv, rec, how)
    return _core.uniform_indices(img, lv)


def dequantize_uniform(
    indices: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    reconstruction: str = "midpoint",
) -> np.ndarray:
    """Maps uniform quantization indices back to 8-bit values.

    Args:
        indices: uint8 array (H, W) or (H, W, C) of indices below the channel's level count.
        levels: level count L in 2..256 (an int or one per channel); or ``bits`` 1..8.
        reconstruction: ``"midpoint"`` gives the integer that minimises the squared error over the bin's values
            (the bin's middle, rounded up: for L = 16 bin 0..15 gives 8); ``"full-range"`` gives
            ``round(i * 255 / (L - 1))`` (ties to even, as ``numpy.round``), so 1 bit is black and white.

    Returns:
        uint8 array of the indices' shape.

    Raises:
        TypeError, ValueError: as for :func:`uniform_indices`; ValueError also for an index >= L.

    Example:
        >>> qfast.dequantize_uniform(np.array([[0, 3]], np.uint8), 4, reconstruction="full-range")
        array([[  0, 255]], dtype=uint8)
    """
    idx = as_image(indices, "indices")
    lv = resolve_levels(levels, bits, channels_of(idx))
    return _core.dequantize_uniform(idx, lv, _reconstruction(reconstruction))


def quantize_uniform(
    image: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    reconstruction: str = "midpoint",
    dither: str = "none",
) -> np.ndarray:
    """Uniform quantization to L levels and back in one pass: ``dequantize_uniform(uniform_indices(x))``.

    Args:
        image: uint8 array (H, W) or (H, W, C), C in 1..4, any strides; or a PIL image.
        levels: level count in 2..256, an int or one per channel; or ``bits`` 1..8.
        reconstruction: ``"midpoint"`` (least squared error) or ``"full-range"`` (0 and 255 reachable).
        dither: ``"none"``, ``"bayer4"``, ``"bayer8"`` or ``"floyd-steinberg"``: as :func:`uniform_indices`, for
            bit-depth reduction without banding (a higher error, a truer look).

    Returns:
        uint8 array of the image's shape.

    Example:
        >>> qfast.quantize_uniform(np.array([[0, 100, 200]], np.uint8), bits=1)
        array([[ 64,  64, 192]], dtype=uint8)
    """
    img = as_image(image)
    lv = resolve_levels(levels, bits, channels_of(img))
    rec, how = _reconstruction(reconstruction), _dither(dither)
    if how != "none":
        return _core.dequantize_uniform(_core.dither_uniform(img, lv, rec, how), lv, rec)
    return _core.quantize_uniform(img, lv, rec)


@dataclass(frozen=True)
class ScalarQuantization:
    """The result of a per-channel scalar quantizer.

    Attributes:
        indices: uint8 array of the image's shape; channel c holds indices into ``codebook[c]``.
        codebook: one uint8 array per channel; ``codebook[c][i]`` is the value index i stands for.
        method: the quantizer that made it (``"lloyd-max"`` or ``"mu-law"``).
    """

    indices: np.ndarray
    codebook: tuple[np.ndarray, ...]
    method: str

    @property
    def levels(self) -> tuple[int, ...]:
        """The level count of each channel."""
        return tuple(len(c) for c in self.codebook)

    def image(self) -> np.ndarray:
        """The reconstructed uint8 image: each index replaced by its channel's codeword."""
        return _core.apply_codebooks(self.indices, [c.tolist() for c in self.codebook])


def quantize_lloyd_max(
    image: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    max_iter: int = 100,
    tol: float = 1e-6,
) -> ScalarQuantization:
    """Lloyd-Max quantization: the MSE-optimal scalar quantizer for each channel's histogram.

    Starts from the uniform midpoint quantizer and alternates nearest-codeword partition and centroid (integer mean)
    steps on the channel's 256-bin histogram; neither step raises the error, so the result's MSE is never above
    :func:`quantize_uniform`'s with ``reconstruction="midpoint"`` at the same level count. Codewords are integers.

    Args:
        image: uint8 array (H, W) or (H, W, C), C in 1..4, or a PIL image.
        levels: level count in 2..256, an int or one per channel; or ``bits`` 1..8.
        max_iter: at most this many refinement rounds (>= 0; 0 gives the nearest-codeword uniform quantizer).
        tol: stop when a round lowers the squared error by less than this fraction (>= 0).

    Returns:
        A :class:`ScalarQuantization` with ``.indices``, ``.codebook`` and ``.image()``.

    Example:
        >>> q = qfast.quantize_lloyd_max(img, 8)
        >>> qfast.psnr(img, q.image()) >= qfast.psnr(img, qfast.quantize_uniform(img, 8))
        True
    """
    img = as_image(image)
    lv = resolve_levels(levels, bits, channels_of(img))
    it = as_int(max_iter, "max_iter", 0, 1_000_000)
    t = as_positive(tol, "tol", allow_zero=True)
    return _nonuniform(img, lv, "lloyd-max", lambda im, lv: _core.quantize_lloyd_max(im, lv, it, t))


def quantize_mu_law(
    image: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    mu: float = 255.0,
) -> ScalarQuantization:
    """Mu-law companding quantization: finer steps in the dark, coarser in the light.

    Each value x is companded to ``y = ln(1 + mu * x / 255) / ln(1 + mu)``, quantized uniformly to L bins of [0, 1],
    and reconstructed at the bin's middle in the companded domain, expanded back and rounded.

    Args:
        image: uint8 array (H, W) or (H, W, C), C in 1..4, or a PIL image.
        levels: level count in 2..256, an int or one per channel; or ``bits`` 1..8.
        mu: compression strength, finite and > 0 (255 as in G.711; near 0 it approaches uniform quantization).

    Returns:
        A :class:`ScalarQuantization` with ``.indices``, ``.codebook`` and ``.image()``.
    """
    img = as_image(image)
    lv = resolve_levels(levels, bits, channels_of(img))
    m = as_positive(mu, "mu", allow_zero=False)
    return _nonuniform(img, lv, "mu-law", lambda im, lv: _core.quantize_mu_law(im, lv, m))


def _nonuniform(img: np.ndarray, lv: list[int], method: str, run: Any) -> ScalarQuantization:
    """Runs a non-uniform quantizer; an alpha channel left at 256 levels (not asked for) passes through exactly,
    with the identity codebook."""
    if has_alpha(channels_of(img)) and lv[-1] == 256:
        indices, codebooks = run(np.ascontiguousarray(img[..., :-1]), lv[:-1])
        if indices.ndim == 2:
            indices = indices[..., None]
        indices = np.concatenate([indices, img[..., -1:]], axis=2)
        return ScalarQuantization(indices, (*codebooks, np.arange(256, dtype=np.uint8)), method)
    indices, codebooks = run(img, lv)
    return ScalarQuantization(indices, tuple(codebooks), method)
