"""Image quality metrics: MSE, PSNR and SSIM.

Each takes two images of the same shape and returns a float; two stacks ``(N, H, W, C)`` give one value per image
(a float64 array of N values)."""

from __future__ import annotations

import math
from typing import Any, Optional

import numpy as np

from . import _core
from ._arrays import as_stack
from ._validate import as_image, as_positive


def _pair(a: Any, b: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = as_image(a, "a"), as_image(b, "b")
    if x.shape != y.shape:
        raise ValueError(f"b: expected the shape of a {x.shape}, got {y.shape}")
    return x, y


def _stacks(a: Any, b: Any) -> Optional[tuple[np.ndarray, np.ndarray]]:
    """Two stacks ``(N, H, W, C)`` of the same shape, or None when ``a`` is a single image."""
    x, y = as_stack(a, "a"), as_stack(b, "b")
    if not (isinstance(x, np.ndarray) and x.ndim == 4):
        return None
    if not (isinstance(y, np.ndarray) and y.shape == x.shape):
        raise ValueError(f"b: expected the shape of a {x.shape}, got {getattr(y, 'shape', type(y).__name__)}")
    return x, y


def _per_image(metric: Any, a: Any, b: Any, **kw: Any) -> Any:
    """``metric`` of each pair of a stack, as a float64 array of N values; None for single images."""
    pairs = _stacks(a, b)
    if pairs is None:
        return None
    return np.array([metric(x, y, **kw) for x, y in zip(*pairs)], np.float64)


def mse(a: Any, b: Any) -> float:
    """Mean squared error between two uint8 images of the same shape (over all pixels and channels).

    Raises:
        TypeError: not uint8 arrays or PIL images. ValueError: shapes differ or an image is empty.

    Example:
        >>> qfast.mse(np.zeros((2, 2), np.uint8), np.full((2, 2), 3, np.uint8))
        9.0
    """
    stacked = _per_image(mse, a, b)
    if stacked is not None:
        return stacked
    x, y = _pair(a, b)
    return float(_core.mse(x, y))


def psnr(a: Any, b: Any, data_range: float = 255) -> float:
    """Peak signal-to-noise ratio in dB: ``10 * log10(data_range**2 / mse(a, b))``; ``inf`` for identical images."""
    stacked = _per_image(psnr, a, b, data_range=data_range)
    if stacked is not None:
        return stacked
    r = as_positive(data_range, "data_range", allow_zero=False)
    e = mse(a, b)
    # 20 log10(r) - 10 log10(e) rather than log10(r * r / e): r * r under- or overflows for extreme data ranges.
    return math.inf if e == 0 else 20.0 * math.log10(r) - 10.0 * math.log10(e)


def ssim(a: Any, b: Any, data_range: float = 255) -> float:
    """Mean structural similarity (Wang et al. 2004) with an 11 x 11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03.

    Equals scikit-image's ``structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255, channel_axis=-1)`` (``channel_axis=None`` for (H, W) images): the
    mean over the pixels whose window lies inside the image, then over channels.

    Raises:
        TypeError: not uint8. ValueError: shapes differ, or an image smaller than 11 x 11.
    """
    stacked = _per_image(ssim, a, b, data_range=data_range)
    if stacked is not None:
        return stacked
    x, y = _pair(a, b)
    r = as_positive(data_range, "data_range", allow_zero=False)
    return float(_core.ssim(x, y, r))
