"""Quantizing an image as :class:`~.settings.Settings` say, and measuring it: :func:`quantize`, the corrector
(:func:`corrector`, created once per model), SSIM and the ladder's settings."""

from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np

import qfast

from .settings import Result, Settings, require


def _bits_for(levels: int) -> int:
    return max(1, math.ceil(math.log2(levels)))


def _packed(indices: np.ndarray, levels: int) -> int:
    return int(qfast.pack_bits(np.ascontiguousarray(indices), _bits_for(levels)).size)


_CORRECTORS: dict[str, Any] = {}


def corrector(model: str) -> Any:
    """The corrector for ``model`` (``"fp32"`` -> the default model, ``"int8"``), created once and reused."""
    require("corrector")
    name = "int8" if model == "int8" else "default"
    if name not in _CORRECTORS:
        _CORRECTORS[name] = qfast.Corrector(model=name)
    return _CORRECTORS[name]


def quantize(img: np.ndarray, s: Settings, *, with_ssim: bool = True) -> Result:
    """Quantizes ``img`` as ``s`` says and measures the result.

    Args:
        img: uint8 (H, W) or (H, W, 3).
        s: the settings.
        with_ssim: measure SSIM too (the slowest metric; ``nan`` when off).

    Returns:
        A :class:`Result`.

    Raises:
        FeatureUnavailable: a palette or the corrector is asked for and this build lacks it.
    """
    t = time.perf_counter()
    palette = None
    extra: dict[str, Any] = {}
    if s.method == "palette":
        require("palette")
        r = qfast.quantize_colors(img, s.k, dither=s.dither, method="kmeans", seed=s.seed, color_space=s.color_space)
        out = np.asarray(r.image())
        if img.ndim == 2 and out.ndim == 3:
            out = out[:, :, 0]
        palette = np.asarray(r.palette)
        n = max(2, len(palette))
        packed = _packed(np.asarray(r.indices), n) + palette.size
        extra["pil"] = r.to_pil
    else:
        L = s.level_count
        if s.method == "uniform":
            idx = qfast.uniform_indices(img, L)
            out = qfast.dequantize_uniform(idx, L, reconstruction=s.reconstruction)
        elif s.method == "lloyd-max":
            q = qfast.quantize_lloyd_max(img, L)
            idx, out = q.indices, q.image()
        else:
            q = qfast.quantize_mu_law(img, L)
            idx, out = q.indices, q.image()
        packed = _packed(idx, L)
        if s.uses_corrector:
            rgb = img.ndim == 3 and img.shape[2] == 3
            if rgb:
                out = np.asarray(corrector(s.corrector).correct(out, L))
            else:
                extra["note"] = "the corrector works on RGB images only"
    ms = 1000 * (time.perf_counter() - t)
    return _measure(img, out, s, packed, ms, palette, extra, with_ssim)


def _measure(
    img: np.ndarray,
    out: np.ndarray,
    s: Settings,
    packed: int,
    ms: float,
    palette: np.ndarray | None,
    extra: dict[str, Any],
    with_ssim: bool,
) -> Result:
    err = float(qfast.mse(img, out))
    p = math.inf if err == 0 else 10 * math.log10(255.0**2 / err)
    ss = ssim_or_nan(img, out) if with_ssim else math.nan
    mx = int((np.maximum(img, out) - np.minimum(img, out)).max())
    return Result(s, out, packed, p, ss, err, mx, ms, palette, extra)


def ssim_or_nan(a: np.ndarray, b: np.ndarray) -> float:
    """``qfast.ssim(a, b)``, or ``nan`` for images under 11 x 11 pixels (too small for its window)."""
    return math.nan if a.shape[0] < 11 or a.shape[1] < 11 else float(qfast.ssim(a, b))


def ladder_settings(s: Settings) -> list[Settings]:
    """The rungs of the ladder for ``s``'s method: 8, 4, 2, 1 bits, or K = 256, 64, 16, 4, 2 (canonical settings)."""
    if s.method == "palette":
        return [replace(s, k=k).canonical() for k in (256, 64, 16, 4, 2)]
    # The ladder shows quantization alone: the corrector (slow, and made for 2..64 levels) stays off here.
    return [replace(s, level_mode="bits", bits=b, corrector="off").canonical() for b in (8, 4, 2, 1)]
