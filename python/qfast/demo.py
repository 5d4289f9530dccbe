"""``qfast demo``: a bundled photo quantized several ways, a table of what each costs, a comparison image."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable

import numpy as np

from . import samples
from .metrics import psnr, ssim
from .packing import pack_bits
from .quantize import quantize_lloyd_max, quantize_mu_law, quantize_uniform, uniform_indices

Row = tuple[str, int, np.ndarray, int, float]  # label, levels, image, packed bytes, milliseconds


def _timed(f: Callable[[], np.ndarray]) -> tuple[np.ndarray, float]:
    t = time.perf_counter()
    out = f()
    return out, 1000 * (time.perf_counter() - t)


def _packed_size(indices: np.ndarray, levels: int) -> int:
    return int(pack_bits(indices, max(1, math.ceil(math.log2(levels)))).size)


def rows(img: np.ndarray) -> list[Row]:
    """Quantizes ``img`` at several levels and methods: (label, levels, image, packed bytes, ms) per row."""
    out: list[Row] = []
    for bits in (1, 2, 3, 4, 6):
        L = 1 << bits
        q, ms = _timed(lambda L=L: quantize_uniform(img, L))
        out.append((f"uniform {bits} bit", L, q, _packed_size(uniform_indices(img, L), L), ms))
    out.append(
        (
            "uniform full-range 1 bit",
            2,
            quantize_uniform(img, 2, reconstruction="full-range"),
            _packed_size(uniform_indices(img, 2), 2),
            0.0,
        )
    )
    for L in (4, 8, 16):
        t = time.perf_counter()
        lm = quantize_lloyd_max(img, L)
        lm_img = lm.image()
        ms = 1000 * (time.perf_counter() - t)
        out.append(("lloyd-max", L, lm_img, _packed_size(lm.indices, L), ms))
    for L in (4, 8, 16):
        t = time.perf_counter()
        mu = quantize_mu_law(img, L)
        mu_img = mu.image()
        ms = 1000 * (time.perf_counter() - t)
        out.append(("mu-law", L, mu_img, _packed_size(mu.indices, L), ms))
    return out


def codec_rows(img: np.ndarray) -> list[Row]:
    """The ``.qfz`` codec on ``img``: bounded at a few max errors, then levels mode; ms is encode plus decode (with
    the corrector where one is installed, made before the clock starts)."""
    from .codec import _shipped_corrector, decode, encode, inspect

    _shipped_corrector()  # its onnxruntime session is made once per process: not part of any row's time
    out: list[Row] = []
    for label, opts in [
        ("qfz lossless", {"max_error": 0}),
        ("qfz max-error 2", {"max_error": 2}),
        ("qfz max-error 8", {"max_error": 8}),
        ("qfz levels 16", {"levels": 16}),
    ]:
        t = time.perf_counter()
        data = encode(img, **opts)
        dec = decode(data)
        ms = 1000 * (time.perf_counter() - t)
        out.append((label, int(inspect(data)["levels"][0]), dec, len(data), ms))
    return out


def table(img: np.ndarray, results: list[Row]) -> str:
    """The demo's table as text."""
    npx = img.shape[0] * img.shape[1]
    lines = [f"{'method':<26}{'levels':>7}{'PSNR dB':>9}{'SSIM':>8}{'packed':>11}{'bpp':>7}{'ms':>8}"]
    lines.append("-" * len(lines[0]))
    for label, L, q, size, ms in results:
        lines.append(
            f"{label:<26}{L:>7}{psnr(img, q):>9.2f}{ssim(img, q):>8.4f}{size:>11,}{8 * size / npx:>7.2f}{ms:>8.1f}"
        )
    lines.append(f"original: {img.shape[1]} x {img.shape[0]} x {img.shape[2]}, {img.nbytes:,} bytes (24 bpp)")
    return "\n".join(lines)


def comparison(
    img: np.ndarray, results: list[Row], picks: tuple[int, ...] = (0, 1, 2, 7, 10), columns: int = 3
) -> np.ndarray:
    """A labelled grid: the original, then the rows numbered in ``picks``, each at half size, ``columns`` across."""
    from PIL import Image, ImageDraw

    tiles = [("original", img)] + [(f"{results[i][0]} ({results[i][1]} levels)", results[i][2]) for i in picks]
    h, w = img.shape[0] // 2, img.shape[1] // 2
    label_h = 18
    rows = -(-len(tiles) // columns)
    sheet = Image.new("RGB", (w * columns, (h + label_h) * rows), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (label, tile) in enumerate(tiles):
        x, y = (k % columns) * w, (k // columns) * (h + label_h)
        sheet.paste(Image.fromarray(tile).resize((w, h), Image.Resampling.BOX), (x, y + label_h))
        draw.text((x + 4, y + 3), label, fill="black")
    return np.asarray(sheet)


def corrector_gain(img: np.ndarray, levels: tuple[int, ...] = (4, 8, 16, 32)) -> str:
    """A table of what the QANN corrector adds to the mid-bin reconstruction of ``img`` (RGB) at each level count."""
    from .corrector import Corrector

    corrector = Corrector()
    lines = [f"{'QANN corrector':<26}{'levels':>7}{'PSNR dB':>9}{'SSIM':>8}{'gain dB':>9}{'ms':>8}"]
    lines.append("-" * len(lines[0]))
    for L in levels:
        mid = quantize_uniform(img, L)
        out, ms = _timed(lambda m=mid, n=L: corrector.correct(m, n))
        p = psnr(img, out)
        gain = p - psnr(img, mid)
        lines.append(f"{'mid-bin + corrector':<26}{L:>7}{p:>9.2f}{ssim(img, out):>8.4f}{gain:>+9.2f}{ms:>8.1f}")
    lines.append(f"providers: {', '.join(corrector.providers)}")
    return "\n".join(lines)


def free_name(path: Path) -> Path:
    """``path`` if it does not exist, else the first ``stem-N.suffix`` that does not."""
    n = 1
    candidate = path
    while candidate.exists():
        candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return candidate


def run(output: str, sample: str = "parrots", quiet: bool = False) -> int:
    """Runs the demo: prints the table (unless ``quiet``) and writes the comparison image (never over an existing
    file)."""
    from ._io import write_image

    say = (lambda *a: None) if quiet else print
    img = samples.load(sample)
    results = rows(img) + codec_rows(img)
    say(f"qfast demo: the bundled sample {sample!r}, quantized several ways\n")
    say(table(img, results))
    if img.ndim == 3 and img.shape[2] == 3:
        gain = corrector_gain(img)
        say()
        say(gain)
    out = free_name(Path(output))
    write_image(comparison(img, results), out)
    say(f"\ncomparison image written to {out}")
    return 0
