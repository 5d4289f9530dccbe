"""The codec and model-quantization tabs' computations: a ``.qfz`` round trip of the image (decoded with and without
the corrector), and the corrector in fp32 against int8 on a uniform mid-bin result."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

import qfast

from .quantization import corrector
from .rate_distortion import _psnr
from .settings import FEATURES, require


def codec_roundtrip(img: np.ndarray, *, max_error: int | None = None, levels: int | None = None) -> dict[str, Any]:
    """Encodes ``img`` with the codec and decodes it with and without the corrector.

    Args:
        img: uint8 (H, W) or (H, W, 3).
        max_error: bounded mode: every channel within this many grey levels (0 is lossless).
        levels: levels mode: this many levels per channel (instead of ``max_error``).

    Returns:
        A dict: ``data`` (the file's bytes), ``bytes``, ``bpp``, ``encode_ms``, ``header`` (from ``qfast.inspect``),
        and for ``plain`` and ``corrected`` (``None`` when the corrector is absent): ``image``, ``psnr``,
        ``max_error``, ``ms``.

    Raises:
        FeatureUnavailable: no codec in this build.
    """
    require("codec")
    npx = img.shape[0] * img.shape[1]
    t = time.perf_counter()
    # Pass only the mode that is set: the codec refuses both or neither.
    mode = {"max_error": max_error} if max_error is not None else {"levels": levels}
    data = qfast.encode(img, **mode)
    enc_ms = 1000 * (time.perf_counter() - t)
    out: dict[str, Any] = {
        "data": data,
        "bytes": len(data),
        "bpp": 8.0 * len(data) / npx,
        "encode_ms": enc_ms,
        "header": qfast.inspect(data) if hasattr(qfast, "inspect") else {},
    }
    for key, correct in (("plain", False), ("corrected", True)):
        if correct and not FEATURES["corrector"]:
            out[key] = None
            continue
        t = time.perf_counter()
        back = np.asarray(qfast.decode(data, correct=correct))
        ms = 1000 * (time.perf_counter() - t)
        mx = int(np.abs(img.astype(np.int16) - back.astype(np.int16)).max())
        out[key] = {"image": back, "psnr": _psnr(img, back), "max_error": mx, "ms": ms}
    return out


def _model_size(c: Any) -> int | None:
    import os

    for attr in ("path", "model_path", "file"):
        p = getattr(c, attr, None)
        if p and os.path.isfile(str(p)):
            return os.path.getsize(str(p))
    return None


def corrector_comparison(img: np.ndarray, levels: int) -> dict[str, Any]:
    """The corrector in fp32 and int8 on the uniform mid-bin reconstruction of ``img`` at ``levels`` per channel.

    Returns:
        ``{"midbin": {"image", "psnr", "ssim"}, "fp32": {...}, "int8": {...}}``; the model entries add ``ms`` (the
        correction's wall time) and ``size`` (model file bytes, ``None`` if the corrector does not say).

    Raises:
        FeatureUnavailable: no corrector in this build. ValueError: not an RGB image.
    """
    require("corrector")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: the corrector needs an RGB (H, W, 3) image, got shape {img.shape}")
    mid = qfast.quantize_uniform(img, levels)
    small = img.shape[0] < 11 or img.shape[1] < 11
    out: dict[str, Any] = {
        "midbin": {"image": mid, "psnr": _psnr(img, mid), "ssim": math.nan if small else float(qfast.ssim(img, mid))}
    }
    for model in ("fp32", "int8"):
        c = corrector(model)
        t = time.perf_counter()
        fixed = np.asarray(c.correct(mid, levels))
        ms = 1000 * (time.perf_counter() - t)
        out[model] = {
            "image": fixed,
            "psnr": _psnr(img, fixed),
            "ms": ms,
            "size": _model_size(c),
            "ssim": math.nan if small else float(qfast.ssim(img, fixed)),
        }
    return out
