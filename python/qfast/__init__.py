"""qfast: fast, measurable image quantization with a Rust core.

Uniform quantization to any level count per channel, Lloyd-Max and mu-law non-uniform quantizers, n-bit packing
and quality metrics (MSE, PSNR, SSIM). Images are uint8 NumPy arrays (H, W) or (H, W, C) with C in 1..4, or PIL
images; results are new NumPy arrays. The pixel work runs in Rust without the GIL, on all cores.
"""

from __future__ import annotations

from . import samples
from ._core import __version__
from .corrector import Corrector
from .metrics import mse, psnr, ssim
from .packing import pack_bits, unpack_bits
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
    "Corrector",
    "ScalarQuantization",
    "dequantize_uniform",
    "mse",
    "pack_bits",
    "psnr",
    "quantize_lloyd_max",
    "quantize_mu_law",
    "quantize_uniform",
    "samples",
    "ssim",
    "uniform_indices",
    "unpack_bits",
]
