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
from ._arrays import check_out, elementwise, stack_input
from ._validate import (
    Levels,
    as_int,
    as_positive,
    channels_of,
    has_alpha,
    is_per_channel,
    per_channel,
    resolve_levels,
)

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


def _is16(image: Any) -> bool:
    """Whether ``image`` is 16-bit input: a uint16 array or a 16-bit greyscale PIL image."""
    if isinstance(image, np.ndarray):
        return image.dtype.kind == "u" and image.dtype.itemsize == 2
    mode = getattr(image, "mode", "")
    return type(image).__module__.startswith("PIL.") and isinstance(mode, str) and mode.startswith("I;16")


def _image16(image: Any) -> np.ndarray:
    arr = np.asarray(image) if not isinstance(image, np.ndarray) else image
    if isinstance(arr, np.ma.MaskedArray):
        raise TypeError("image: masked arrays are not supported (the mask would be ignored)")
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and not 1 <= arr.shape[2] <= 4):
        raise ValueError(f"image: expected shape (H, W) or (H, W, C) with C in 1..4, got {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"image: expected a non-empty image, got shape {arr.shape}")
    return np.ascontiguousarray(arr, dtype=np.uint16)


def _levels16(levels: Optional[Levels], bits: Optional[Levels], channels: int) -> list[int]:
    """:func:`resolve_levels` for 16-bit input: levels 2..65536 or bits 1..16; alpha kept (65536 levels)."""
    if (levels is None) == (bits is None):
        raise TypeError("levels: give exactly one of levels or bits")
    value, arg, lo, hi = (levels, "levels", 2, 65536) if levels is not None else (bits, "bits", 1, 16)
    assert value is not None
    if has_alpha(channels) and not is_per_channel(value):
        out = per_channel(value, arg, channels - 1, lo, hi) + [65536 if arg == "levels" else 16]
    else:
        out = per_channel(value, arg, channels, lo, hi)
    return out if arg == "levels" else [1 << b for b in out]


def _input16(image: Any, levels: Optional[Levels], bits: Optional[Levels]) -> tuple[np.ndarray, list[int]]:
    """16-bit input and its level counts: :func:`_image16` and :func:`_levels16` together."""
    img16 = _image16(image)
    return img16, _levels16(levels, bits, channels_of(img16))


def _depth(depth: Any, sixteen: bool) -> int:
    if depth is None:
        return 16 if sixteen else 8
    d = as_int(depth, "depth", 8, 16)
    if d not in (8, 16) or (d == 16 and not sixteen):
        raise ValueError(f"depth: expected 8{' or 16' if sixteen else ''} (the output's bits), got {d}")
    return d


def uniform_indices(
    image: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    dither: str = "none",
    reconstruction: str = "midpoint",
    out: Optional[np.ndarray] = None,
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

    16-bit input (a uint16 array, or a 16-bit greyscale PIL image): ``floor(x * L / 65536)`` with L in 2..65536
    (``bits`` 1..16), as uint16 indices; alpha keeps 65536 levels unless given its own; no dithering.

    Returns:
        uint8 array of the image's shape with values in 0..L-1.

    Raises:
        TypeError: wrong dtype or type; both or neither of ``levels`` and ``bits``.
        ValueError: wrong shape, empty image, levels or bits out of range or of the wrong length.

    Example:
        >>> qfast.uniform_indices(np.array([[0, 127, 128, 255]], np.uint8), 4)
        array([[0, 1, 2, 3]], dtype=uint8)
    """
    rec, how = _reconstruction(reconstruction), _dither(dither)
    if _is16(image):
        img16, lv16 = _input16(image, levels, bits)
        if how != "none":
            raise ValueError("dither: 16-bit images are quantized without dithering (dither='none')")
        return _into(out, _core.quantize_uniform16(img16, lv16))
    img, stack = stack_input(image, "image")
    lv = resolve_levels(levels, bits, channels_of(img))
    if how != "none":
        return _into(out, _per_frame(img, stack, lambda f: _core.dither_uniform(f, lv, rec, how)))
    return elementwise(_core.uniform_indices, img, stack, out, lv)


def dequantize_uniform(
    indices: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    reconstruction: str = "midpoint",
    out: Optional[np.ndarray] = None,
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
    idx, stack = stack_input(indices, "indices")
    lv = resolve_levels(levels, bits, channels_of(idx))
    return elementwise(_core.dequantize_uniform, idx, stack, out, lv, _reconstruction(reconstruction))


def quantize_uniform(
    image: Any,
    levels: Optional[Levels] = None,
    *,
    bits: Optional[Levels] = None,
    reconstruction: str = "midpoint",
    dither: str = "none",
    depth: Optional[int] = None,
    out: Optional[np.ndarray] = None,
) -> np.ndarray:
    """Uniform quantization to L levels and back in one pass: ``dequantize_uniform(uniform_indices(x))``.

    Args:
        image: uint8 array (H, W) or (H, W, C), C in 1..4, any strides; or a PIL image.
        levels: level count in 2..256, an int or one per channel; or ``bits`` 1..8.
        reconstruction: ``"midpoint"`` (least squared error) or ``"full-range"`` (0 and 255 reachable).
        dither: ``"none"``, ``"bayer4"``, ``"bayer8"`` or ``"floyd-steinberg"``: as :func:`uniform_indices`, for
            bit-depth reduction without banding (a higher error, a truer look).
        depth: the output's bits: 8 for uint8 input; for 16-bit input (a uint16 array or a 16-bit greyscale PIL
            image, quantized as :func:`uniform_indices` says) 16 (default: a uint16 reconstruction on the 16-bit
            bins) or 8 (that reconstruction scaled to 8 bits, ``round(v / 257)``).

    Returns:
        uint8 array of the image's shape.

    Example:
        >>> qfast.quantize_uniform(np.array([[0, 100, 200]], np.uint8), bits=1)
        array([[ 64,  64, 192]], dtype=uint8)
    """
    rec, how = _reconstruction(reconstruction), _dither(dither)
    if _is16(image):
        img16, lv16 = _input16(image, levels, bits)
        if how != "none":
            raise ValueError("dither: 16-bit images are quantized without dithering (dither='none')")
        out16 = _core.quantize_uniform16(img16, lv16, rec)
        if _depth(depth, True) == 8:
            return _into(out, np.round(out16 / 257.0).astype(np.uint8))
        return _into(out, out16)
    _depth(depth, False)
    img, stack = stack_input(image, "image")
    lv = resolve_levels(levels, bits, channels_of(img))
    if how != "none":
        indices = _per_frame(img, stack, lambda f: _core.dither_uniform(f, lv, rec, how))
        return _into(out, _core.dequantize_uniform(indices.reshape(img.shape), lv, rec).reshape(indices.shape))
    return elementwise(_core.quantize_uniform, img, stack, out, lv, rec)


@dataclass(frozen=True)
class ScalarQuantization:
    """The result of a per-channel scalar quantizer.

    Attributes:
        indices: array of the image's shape (uint8; uint16 for 16-bit input); channel c holds indices into
            ``codebook[c]``.
        codebook: one array per channel (uint8; uint16 for 16-bit input); ``codebook[c][i]`` is the value index i
            stands for.
        method: the quantizer that made it (``"lloyd-max"`` or ``"mu-law"``).
    """

    indices: np.ndarray
    codebook: tuple[np.ndarray, ...]
    method: str

    @property
    def levels(self) -> tuple[int, ...]:
        """The level count of each channel."""
        return tuple(len(c) for c in self.codebook)

    def image(self, *, depth: Optional[int] = None, out: Optional[np.ndarray] = None) -> np.ndarray:
        """The reconstructed image (or stack): each index replaced by its channel's codeword; into ``out``
        (checked, written and returned) if given.

        ``depth``: the output's bits. 8 for 8-bit input; for 16-bit input 16 (the default: uint16 codewords) or 8
        (the codewords scaled to 8 bits, ``round(v / 257)``)."""
        if self.indices.dtype == np.uint16:
            rec = _core.apply_codebooks16(np.ascontiguousarray(self.indices), [c.tolist() for c in self.codebook])
            if _depth(depth, True) == 8:
                rec = np.round(rec / 257.0).astype(np.uint8)
            return _into(out, rec)
        _depth(depth, False)
        idx, stack = stack_input(self.indices, "indices")
        return elementwise(_core.apply_codebooks, idx, stack, out, [c.tolist() for c in self.codebook])


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
        image: uint8 array (H, W) or (H, W, C), C in 1..4, or a PIL image; or 16-bit input (a uint16 array, or a
            16-bit greyscale PIL image), quantized on its 65536-bin histograms with levels 2..65536 (``bits``
            1..16) into uint16 indices and codebooks (:meth:`ScalarQuantization.image` gives 16 or 8 bits). At 16
            bits the exact-optimum start is used where levels x occupied values <= 2**22 (and the uniform and
            equal-weight starts elsewhere), so large level counts on dense histograms stay fast.
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
    it = as_int(max_iter, "max_iter", 0, 1_000_000)
    t = as_positive(tol, "tol", allow_zero=True)
    if _is16(image):
        img16, lv16 = _input16(image, levels, bits)
        return _nonuniform(img16, lv16, "lloyd-max", lambda im, lv: _core.quantize_lloyd_max16(im, lv, it, t))
    img, stack = stack_input(image, "image")
    lv = resolve_levels(levels, bits, channels_of(img))
    # A stack: one quantizer for its joint histogram.
    return _nonuniform(img, lv, "lloyd-max", lambda im, lv: _core.quantize_lloyd_max(im, lv, it, t), stack)


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
        image: uint8 array (H, W) or (H, W, C), C in 1..4, or a PIL image; or 16-bit input (a uint16 array, or a
            16-bit greyscale PIL image): the same curve with 65535 in place of 255, levels 2..65536 (``bits``
            1..16), uint16 indices and codebooks.
        levels: level count in 2..256, an int or one per channel; or ``bits`` 1..8.
        mu: compression strength, finite and > 0 (255 as in G.711; near 0 it approaches uniform quantization).

    Returns:
        A :class:`ScalarQuantization` with ``.indices``, ``.codebook`` and ``.image()``.
    """
    m = as_positive(mu, "mu", allow_zero=False)
    if _is16(image):
        img16, lv16 = _input16(image, levels, bits)
        return _nonuniform(img16, lv16, "mu-law", lambda im, lv: _core.quantize_mu_law16(im, lv, m))
    img, stack = stack_input(image, "image")
    lv = resolve_levels(levels, bits, channels_of(img))
    return _nonuniform(img, lv, "mu-law", lambda im, lv: _core.quantize_mu_law(im, lv, m), stack)


def _nonuniform(img: np.ndarray, lv: list[int], method: str, run: Any, stack: Any = None) -> ScalarQuantization:
    """Runs a non-uniform quantizer; an alpha channel left at 256 levels (not asked for) passes through exactly,
    with the identity codebook. ``stack``: the shape of the stack ``img`` stands for (its frames one above the
    other), which the indices take back."""
    q = _nonuniform_one(img, lv, method, run)
    return q if stack is None else ScalarQuantization(q.indices.reshape(stack), q.codebook, method)


def _nonuniform_one(img: np.ndarray, lv: list[int], method: str, run: Any) -> ScalarQuantization:
    full = 65536 if img.dtype == np.uint16 else 256
    if has_alpha(channels_of(img)) and lv[-1] == full:
        indices, codebooks = run(np.ascontiguousarray(img[..., :-1]), lv[:-1])
        if indices.ndim == 2:
            indices = indices[..., None]
        indices = np.concatenate([indices, img[..., -1:]], axis=2)
        return ScalarQuantization(indices, (*codebooks, np.arange(full, dtype=img.dtype)), method)
    indices, codebooks = run(img, lv)
    return ScalarQuantization(indices, tuple(codebooks), method)


def _per_frame(img: np.ndarray, stack: Any, fn: Any) -> np.ndarray:
    """``fn`` on each frame of a stack (``img`` its frames one above the other) or on the one image: for the
    dithers, which must not carry an error or a pattern phase from one image into the next."""
    if stack is None:
        return fn(img)
    return np.stack([fn(np.ascontiguousarray(f)) for f in img.reshape(stack)])


def _into(out: Any, result: np.ndarray) -> np.ndarray:
    """``result``, or written into ``out`` (checked as NumPy's ``out=``) and ``out`` returned."""
    target, _ = check_out(out, result.shape, (), dtype=result.dtype)
    if target is None:
        return result
    np.copyto(target, result)
    return target
