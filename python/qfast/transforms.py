"""Transforms for data pipelines, in the style of torchvision's v2 transforms: callables that take an image and
return the same kind of image.

Each accepts a PIL image, a NumPy array ``(H, W)`` / ``(H, W, C)`` (HWC, as the rest of qfast), or a uint8 torch
tensor ``(C, H, W)`` / ``(B, C, H, W)`` (CHW, torchvision's layout; ``tv_tensors.Image`` too), and returns a PIL
image, an array or a tensor of the same shape, dtype and class. qfast never imports torch: a tensor is read through
NumPy (no copy for a CPU tensor) and the result is made with the torch the caller already imported. Tensors must
be uint8 and on the CPU (``x.cpu()``); the error says so otherwise.

Example::

    from torchvision.transforms import v2
    from qfast import transforms as qt
    pipeline = v2.Compose([v2.PILToTensor(), qt.Quantize(bits=3), qt.Codec(max_error=2)])
"""

from __future__ import annotations

import sys
from typing import Any, Callable, Optional

import numpy as np

from ._validate import Levels

__all__ = ["Codec", "Correct", "Palette", "Quantize"]


def _is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def _apply(img: Any, fn: Callable[[np.ndarray], np.ndarray], arg: str = "image") -> Any:
    """Runs ``fn`` (HWC uint8 array -> HWC uint8 array of the same shape) on ``img`` and returns ``img``'s kind."""
    if _is_tensor(img):
        return _apply_tensor(img, fn, arg)
    from ._validate import _is_pil, as_image

    if _is_pil(img):
        from PIL import Image

        out = fn(as_image(img, arg))
        return Image.fromarray(out)
    return fn(as_image(img, arg))


def _apply_tensor(x: Any, fn: Callable[[np.ndarray], np.ndarray], arg: str) -> Any:
    import torch  # already imported by the caller: x is a torch.Tensor

    if x.device.type != "cpu":
        raise TypeError(f"{arg}: expected a CPU tensor, got one on {x.device} (move it with .cpu() first)")
    if x.dtype != torch.uint8:
        raise TypeError(f"{arg}: expected a uint8 tensor, got {x.dtype} (scale floats with (x * 255).round().byte())")
    if x.ndim not in (3, 4) or not 1 <= x.shape[-3] <= 4:
        raise ValueError(f"{arg}: expected a (C, H, W) or (B, C, H, W) tensor with C in 1..4, got {tuple(x.shape)}")
    batch = x if x.ndim == 4 else x[None]
    arr = batch.detach().numpy()  # no copy for a CPU tensor
    outs = [fn(np.ascontiguousarray(a.transpose(1, 2, 0))) for a in arr]
    out = np.stack([o if o.ndim == 3 else o[..., None] for o in outs])  # (B, H, W, C)
    result = torch.from_numpy(np.ascontiguousarray(out.transpose(0, 3, 1, 2)))
    if x.ndim == 3:
        result = result[0]
    return result.as_subclass(type(x)) if type(x) is not torch.Tensor else result


class _Transform:
    """Shared by the transforms: ``__call__`` applies :meth:`_image` to one HWC uint8 array."""

    def __call__(self, img: Any) -> Any:
        return _apply(img, self._image)

    def _image(self, img: np.ndarray) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_") and v is not None)
        return f"{type(self).__name__}({args})"


class Quantize(_Transform):
    """Scalar quantization of each channel, as :func:`qfast.quantize_uniform` (or Lloyd-Max, mu-law) would.

    Args:
        levels: levels per channel, 2..256 (an int or one per channel); or give ``bits``.
        bits: bits per channel, 1..8.
        method: ``"uniform"`` (default), ``"lloyd-max"`` or ``"mu-law"``.
        reconstruction: uniform only: ``"midpoint"`` (default) or ``"full-range"``.
    """

    def __init__(
        self,
        levels: Optional[Levels] = None,
        *,
        bits: Optional[Levels] = None,
        method: str = "uniform",
        reconstruction: str = "midpoint",
    ) -> None:
        from ._validate import as_choice

        if (levels is None) == (bits is None):
            raise TypeError("levels: give exactly one of levels or bits")
        self.levels, self.bits = levels, bits
        self.method = as_choice(method, "method", ("uniform", "lloyd-max", "mu-law"))
        self.reconstruction = as_choice(reconstruction, "reconstruction", ("midpoint", "full-range"))

    def _image(self, img: np.ndarray) -> np.ndarray:
        import qfast

        kw = {"levels": self.levels, "bits": self.bits}
        if self.method == "uniform":
            return qfast.quantize_uniform(img, reconstruction=self.reconstruction, **kw)
        if self.method == "lloyd-max":
            return qfast.quantize_lloyd_max(img, **kw).image()
        return qfast.quantize_mu_law(img, **kw).image()


class Palette(_Transform):
    """Colour palette quantization: each image's own k-means palette (``k``), or one fixed ``palette`` for all.

    Args:
        k: palette size, 1..256 (the palette of each image, :func:`qfast.quantize_colors`).
        palette: an ``(n, 3)`` uint8 palette shared by every image (:func:`qfast.remap`), instead of ``k``.
        dither: ``"none"``, ``"floyd-steinberg"``, ``"atkinson"``, ``"bayer4"`` or ``"bayer8"``.
        **options: further options of :func:`qfast.quantize_colors` (``color_space``, ``method``, ``seed``).
    """

    def __init__(self, k: Optional[int] = None, *, palette: Any = None, dither: str = "none", **options: Any) -> None:
        from ._validate import as_palette

        if (k is None) == (palette is None):
            raise TypeError("k: give exactly one of k or palette")
        self.k = k
        self.palette = None if palette is None else as_palette(palette)
        self.dither = dither
        self._options = options

    def _image(self, img: np.ndarray) -> np.ndarray:
        import qfast

        if self.palette is None:
            q = qfast.quantize_colors(img, self.k, dither=self.dither, **self._options)
            out = q.image()
        else:
            out = self.palette[qfast.remap(img, self.palette, dither=self.dither, **self._options)]
        if img.ndim == 3 and img.shape[2] == 4 and out.shape[-1] == 3:
            out = np.dstack([out, img[..., 3]])  # alpha as it was
        return out


class Codec(_Transform):
    """A round trip through a ``.qfz`` file (encode, then decode with the corrector the file names): what a model
    sees when its inputs were stored that way; an augmentation.

    Args:
        **options: the options of :func:`qfast.encode` (``max_error``, ``levels``, ``target_bpp``, ``subsample``,
            ...), checked here on the first image.
        correct: run the corrector on decode (``None``: as the file says).
    """

    def __init__(self, *, correct: Optional[bool] = None, **options: Any) -> None:
        if not any(options.get(k) is not None for k in ("max_error", "levels", "target_bpp")):
            raise TypeError("max_error: give one of max_error, levels or target_bpp")
        self.options = options
        self.correct = correct

    def _image(self, img: np.ndarray) -> np.ndarray:
        import qfast

        out = qfast.decode(qfast.encode(img, **self.options), correct=self.correct)
        return out.reshape(img.shape)


class Correct(_Transform):
    """The QANN corrector on images quantized uniformly to ``levels`` (mid-bin), as :meth:`qfast.Corrector.correct`.

    Args:
        levels: the level count each channel was quantized to (an int or one per channel).
        model: the corrector's model (``"default"``, ``"int8"``, or a path).
    """

    def __init__(self, levels: Levels, *, model: str = "default") -> None:
        self.levels = levels
        self.model = model
        self._corrector: Any = None

    def _image(self, img: np.ndarray) -> np.ndarray:
        if self._corrector is None:
            import qfast

            self._corrector = qfast.Corrector(self.model)
        return self._corrector.correct(img, self.levels)

    def __getstate__(self) -> dict:
        # DataLoader workers get a copy without the onnxruntime session, and open their own.
        return {**vars(self), "_corrector": None}
