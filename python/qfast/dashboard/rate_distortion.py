"""The rate-distortion curves: qfast's quantizers and codec next to JPEG and WebP (Pillow), in bits per pixel and
PSNR."""

from __future__ import annotations

import io
import math

import numpy as np

import qfast

from .exports import to_pil
from .quantization import quantize
from .settings import FEATURES, Settings
from .upload import channels


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    e = float(qfast.mse(a, b))
    return math.inf if e == 0 else 10 * math.log10(255.0**2 / e)


def _pillow_roundtrip(img: np.ndarray, fmt: str, quality: int) -> tuple[int, np.ndarray]:
    from PIL import Image

    buf = io.BytesIO()
    to_pil(img).save(buf, format=fmt, quality=quality)
    n = buf.tell()
    buf.seek(0)
    with Image.open(buf) as im:
        back = np.asarray(im.convert("L" if img.ndim == 2 else "RGB"))
    return n, back


#: The most pixels, and the longest side, of the part of an image the curves code: every coder measured in bits per
#: pixel, so a central crop (pixels 1:1) stands for the whole; WebP refuses sides over 16383 pixels.
RD_MAX_PIXELS = 2_000_000
RD_MAX_SIDE = 4096


def rd_region(img: np.ndarray) -> tuple[np.ndarray, str]:
    """The part of ``img`` the rate-distortion curves code: the whole image, or a central crop of at most
    :data:`RD_MAX_PIXELS` pixels and :data:`RD_MAX_SIDE` per side; and a note saying which ("" for the whole)."""
    h, w = img.shape[:2]
    ch, cw = min(h, RD_MAX_SIDE), min(w, RD_MAX_SIDE)
    while ch * cw > RD_MAX_PIXELS:
        if ch >= cw:
            ch = max(1, ch * 9 // 10)
        else:
            cw = max(1, cw * 9 // 10)
    if (ch, cw) == (h, w):
        return img, ""
    y, x = (h - ch) // 2, (w - cw) // 2
    crop = np.ascontiguousarray(img[y : y + ch, x : x + cw])
    return crop, f"measured on the central {cw} x {ch} pixels of the {w} x {h} image"


def rate_distortion(img: np.ndarray) -> dict[str, list[tuple[float, float, str]]]:
    """Rate-distortion points for ``img`` (or its :func:`rd_region`): qfast's modes next to JPEG and WebP (Pillow).

    Returns:
        ``{curve name: [(bits per pixel, PSNR dB, point label), ...]}``, points in rising rate. qfast's scalar
        quantizers are counted at their packed size (ceil(log2 L) bits per channel, no entropy coding), palettes at
        log2 K bits per pixel plus the palette, and the codec (when present) at its file size, twice: as its files
        are meant to be decoded (encoded for the corrector, decoded through it) and without the corrector (JPEG-LS's
        bins of 2d + 1 values, decoded plain). Where no corrector is installed the two are the same file.
    """
    img, _ = rd_region(img)
    npx = img.shape[0] * img.shape[1]
    ch = channels(img)
    curves: dict[str, list[tuple[float, float, str]]] = {}
    for method in ("uniform", "lloyd-max"):
        pts = []
        for b in range(1, 7):
            r = quantize(img, Settings(method=method, bits=b), with_ssim=False)
            pts.append((8.0 * r.packed_bytes / npx, r.psnr, f"{b} bit"))
        curves[f"qfast {method} (packed)"] = pts
    if FEATURES["palette"] and ch == 3:
        pts = []
        for k in (4, 16, 64, 256):
            r = quantize(img, Settings(method="palette", k=k), with_ssim=False)
            pts.append((8.0 * r.packed_bytes / npx, r.psnr, f"K={k}"))
        curves["qfast palette"] = pts
    if FEATURES["codec"]:
        for name, corrector, correct in (
            ("qfast codec + corrector", "auto", None),
            ("qfast codec, no corrector", None, False),
        ):
            pts = []
            for d in (16, 8, 4, 2, 1):
                try:
                    data = qfast.encode(img, max_error=d, corrector=corrector)
                    back = np.asarray(qfast.decode(data, correct=correct))
                    pts.append((8.0 * len(data) / npx, _psnr(img, back), f"d={d}"))
                except (ValueError, TypeError):
                    continue
            if pts:
                curves[name] = pts
    for fmt, name in (("JPEG", "JPEG"), ("WEBP", "WebP")):
        pts = []
        for q in (10, 30, 50, 75, 90):
            n, back = _pillow_roundtrip(img, fmt, q)
            pts.append((8.0 * n / npx, _psnr(img, back), f"q={q}"))
        curves[name] = sorted(pts)
    return curves
