"""qfast: fast, measurable image quantization with a Rust core.

Uniform quantization to any level count per channel, Lloyd-Max and mu-law non-uniform quantizers, k-means colour
palettes with remapping and dithering, n-bit packing, quality metrics (MSE, PSNR, SSIM), the .qfz codec and the
QANN corrector (an ONNX model run with onnxruntime). Images are uint8 NumPy arrays (H, W) or (H, W, C) with C in
1..4, or PIL images; results are new NumPy arrays. The pixel work runs in Rust without the GIL, on all cores.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import __version__

#: Where each public name lives. ``import qfast`` loads none of them (nor NumPy) until one is used, so a command that
#: needs no arrays (``qfast palette`` on a PNG runs in Rust from file to file) starts in the time Python does; the
#: scientific-Python way (SPEC 1, as scikit-image and SciPy do).
_HOME = {
    "FormatError": "codec",
    "decode": "codec",
    "encode": "codec",
    "inspect": "codec",
    "load": "codec",
    "save": "codec",
    "Corrector": "corrector",
    "mse": "metrics",
    "psnr": "metrics",
    "ssim": "metrics",
    "pack_bits": "packing",
    "unpack_bits": "packing",
    "ColorHistogram": "palette",
    "ColorQuantization": "palette",
    "QualityError": "palette",
    "kmeans_palette": "palette",
    "quantize_colors": "palette",
    "remap": "palette",
    "register_pillow": "pillow",
    "ScalarQuantization": "quantize",
    "dequantize_uniform": "quantize",
    "quantize_lloyd_max": "quantize",
    "quantize_mu_law": "quantize",
    "quantize_uniform": "quantize",
    "uniform_indices": "quantize",
}

if TYPE_CHECKING:
    from . import samples
    from .codec import FormatError, decode, encode, inspect, load, save
    from .corrector import Corrector
    from .metrics import mse, psnr, ssim
    from .packing import pack_bits, unpack_bits
    from .palette import ColorHistogram, ColorQuantization, QualityError, kmeans_palette, quantize_colors, remap
    from .pillow import register_pillow
    from .quantize import (
        ScalarQuantization,
        dequantize_uniform,
        quantize_lloyd_max,
        quantize_mu_law,
        quantize_uniform,
        uniform_indices,
    )


def __getattr__(name: str) -> Any:
    """Imports a public name's module on first use (PEP 562) and keeps the name here; a submodule's name
    (``qfast.codec``, ``qfast.batch``) imports it, as an eager package's attributes would have it."""
    import importlib

    if name in _HOME:
        value: Any = getattr(importlib.import_module("." + _HOME[name], __name__), name)
    else:
        try:
            value = importlib.import_module("." + name, __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module 'qfast' has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "__version__",
    "ColorHistogram",
    "ColorQuantization",
    "Corrector",
    "decode",
    "dequantize_uniform",
    "encode",
    "FormatError",
    "inspect",
    "kmeans_palette",
    "load",
    "mse",
    "pack_bits",
    "psnr",
    "QualityError",
    "quantize_colors",
    "quantize_lloyd_max",
    "quantize_mu_law",
    "quantize_uniform",
    "register_pillow",
    "remap",
    "samples",
    "save",
    "ScalarQuantization",
    "ssim",
    "uniform_indices",
    "unpack_bits",
]
