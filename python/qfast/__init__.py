"""qfast: fast, measurable image quantization with a Rust core.

Uniform quantization to any level count per channel, Lloyd-Max and mu-law non-uniform quantizers, k-means colour
palettes with remapping and dithering, n-bit packing, quality metrics (MSE, PSNR, SSIM), the .qfz codec and the
QANN corrector (an ONNX model run with onnxruntime). Images are uint8 NumPy arrays (H, W) or (H, W, C) with C in
1..4, or PIL images; results are new NumPy arrays. The pixel work runs in Rust without the GIL, on all cores.
"""

from __future__ import annotations

from . import samples
from ._core import __version__
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
