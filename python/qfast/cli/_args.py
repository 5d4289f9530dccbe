"""Argument helpers shared by the command families: :func:`_levels_arg` (an int, or comma-separated ints), the
common options (:func:`add_output`, :func:`add_quiet`), the one-line summary (:func:`summary`) and the help texts of
inputs and outputs."""

from __future__ import annotations

import argparse
from typing import Callable


def _levels_arg(text: str) -> list[int] | int:
    try:
        parts = [int(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an int or comma-separated ints, got {text!r}") from None
    return parts[0] if len(parts) == 1 else parts


#: Help of an image input: what qfast reads.
IMAGE_IN = "image file: PNG, JPEG, WebP, TIFF, BMP, GIF, or a .qfz file (decoded); - for standard input"
#: Help of an image output whose values must stay exact (quantize, palette).
EXACT_OUT = (
    "output image file, format from the extension: .png, .webp (lossless), .tif, .bmp, or .gif (up to 256 colours); "
    "not JPEG (lossy); - for PNG on standard output"
)


def add_quiet(p: argparse.ArgumentParser) -> None:
    """``-q/--quiet``: no summary line on success."""
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success (errors still print)")


def add_force(p: argparse.ArgumentParser) -> None:
    """``--force``: overwrite OUT."""
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")


def summary(args: argparse.Namespace, text: str | Callable[[], str]) -> None:
    """Prints the command's one-line summary, unless ``--quiet``: on standard output, or on standard error when the
    result itself goes to standard output (``-o -``). ``text`` may be a function, for a summary that costs something
    to compute (a PSNR over the image), called only when it prints."""
    import sys

    if getattr(args, "quiet", False):
        return
    if callable(text):
        text = text()
    out = sys.stderr if getattr(args, "output", None) == "-" else sys.stdout
    print(text, file=out)


def out_name(path: str) -> str:
    """How a summary names an output: the path, or "standard output" for ``-``."""
    return "standard output" if path == "-" else path


def psnr_text(original: object, result: object) -> str:
    """ "PSNR 34.71 dB" of ``result`` against ``original``, for a summary line."""
    import numpy as np

    from .. import metrics
    from .._ops import psnr16

    a, b = np.asarray(original), np.asarray(result)
    if a.dtype == np.uint8 and b.dtype == np.uint8:
        return f"PSNR {metrics.psnr(a, b):.2f} dB"
    # 16 bits (or 16-bit input written at 8): both on the 16-bit scale
    p = psnr16(a, b)
    return "PSNR inf dB" if p == float("inf") else f"PSNR {p:.2f} dB (16-bit scale)"
