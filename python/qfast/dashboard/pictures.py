"""The dashboard's pictures as arrays: the error heat map (:data:`HEAT_LUT`, :func:`error_levels`, :func:`error_map`),
histograms, thumbnails, sampled pixels and the 3-D colour scatter."""

from __future__ import annotations

import math

import numpy as np

from .upload import channels


def _inferno_lut() -> np.ndarray:
    anchors = np.array(
        [
            (0, 0, 4),
            (40, 11, 84),
            (101, 21, 110),
            (159, 42, 99),
            (212, 72, 66),
            (245, 125, 21),
            (250, 193, 39),
            (252, 255, 164),
        ],
        float,
    )
    x = np.linspace(0, 1, len(anchors))
    t = np.linspace(0, 1, 256)
    return np.stack([np.interp(t, x, anchors[:, c]) for c in range(3)], axis=1).round().astype(np.uint8)


HEAT_LUT = _inferno_lut()


def error_levels(original: np.ndarray, result: np.ndarray, *, block: int = 1) -> tuple[np.ndarray, int]:
    """The absolute error of each pixel (the largest over channels) scaled to 0..255, for :data:`HEAT_LUT`.

    Args:
        original, result: uint8 images of the same shape.
        block: shrink by this factor, keeping the largest error of each block x block square (so a small map still
            shows every error; edge pixels that do not fill a block are dropped).

    Returns:
        ``(levels, scale)``: an (H / block, W / block) uint8 array, 255 standing for ``scale`` grey levels (the
        largest error in the image, at least 1).
    """
    d = np.maximum(original, result) - np.minimum(original, result)  # |a - b| without widening to int16
    if d.ndim == 3:
        d = d.max(axis=2)
    scale = max(1, int(d.max()))
    if block > 1:
        h, w = (d.shape[0] // block) * block, (d.shape[1] // block) * block
        if h and w:
            d = d[:h, :w].reshape(h // block, block, w // block, block).max(axis=(1, 3))
    lut = (np.arange(256, dtype=np.int32) * 255 // scale).clip(0, 255).astype(np.uint8)
    return lut[d], scale


def error_map(original: np.ndarray, result: np.ndarray, *, block: int = 1) -> tuple[np.ndarray, int]:
    """A heat map of the absolute error (the largest over channels) of each pixel.

    Args:
        original, result, block: as for :func:`error_levels`.

    Returns:
        ``(rgb, scale)``: an (H / block, W / block, 3) uint8 image, black for no error up to pale yellow for
        ``scale`` grey levels (the largest error in the image, at least 1).
    """
    levels, scale = error_levels(original, result, block=block)
    return HEAT_LUT[levels], scale


def histograms(img: np.ndarray) -> np.ndarray:
    """Per-channel 256-bin histograms: (C, 256) int64 counts."""
    flat = img.reshape(-1, channels(img))
    return np.stack([np.bincount(flat[:, c], minlength=256) for c in range(flat.shape[1])])


def thumbnail(img: np.ndarray, width: int = 256) -> np.ndarray:
    """``img`` scaled to ``width`` pixels wide (never enlarged), with a box filter."""
    from PIL import Image

    h, w = img.shape[:2]
    if w <= width:
        return img
    nh = max(1, round(h * width / w))
    return np.asarray(Image.fromarray(img).resize((width, nh), Image.Resampling.BOX))


def sample_pixels(img: np.ndarray, n: int = 3000, seed: int = 0) -> np.ndarray:
    """Up to ``n`` pixels' colours, drawn at random (with a fixed seed), as (n, 3) uint8."""
    flat = img.reshape(-1, channels(img))
    if flat.shape[1] == 1:
        flat = np.repeat(flat, 3, axis=1)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(flat), size=min(n, len(flat)), replace=False)
    return flat[pick, :3]


def scatter3d(
    colours: np.ndarray, palette: np.ndarray | None, *, azimuth: float = 35.0, elevation: float = 25.0, size: int = 420
) -> np.ndarray:
    """A 3-D scatter of RGB colours inside the RGB cube, seen from ``azimuth``/``elevation`` degrees, as an image.

    Pixels are small dots in their own colour; palette entries are larger discs ringed in black and white.
    """
    from PIL import Image, ImageDraw

    a, e = math.radians(azimuth), math.radians(elevation)

    def project(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        q = p.astype(float) / 255.0 - 0.5
        x = q[:, 0] * math.cos(a) - q[:, 1] * math.sin(a)
        y0 = q[:, 0] * math.sin(a) + q[:, 1] * math.cos(a)
        y = q[:, 2] * math.cos(e) - y0 * math.sin(e)
        depth = y0 * math.cos(e) + q[:, 2] * math.sin(e)
        k = size * 0.52
        return size / 2 + k * x, size / 2 - k * y, depth

    im = Image.new("RGB", (size, size), (246, 246, 246))
    d = ImageDraw.Draw(im)
    corners = np.array([(r, g, b) for r in (0, 255) for g in (0, 255) for b in (0, 255)])
    cx, cy, _ = project(corners)
    for i in range(8):
        for j in range(i + 1, 8):
            if bin(i ^ j).count("1") == 1:
                d.line([(cx[i], cy[i]), (cx[j], cy[j])], fill=(170, 170, 170), width=1)
    for name, idx in (("R", 4), ("G", 2), ("B", 1)):
        d.text((cx[idx] + 4, cy[idx] - 6), name, fill=(90, 90, 90))
    px, py, pz = project(colours)
    for i in np.argsort(-pz):
        c = tuple(int(v) for v in colours[i])
        d.ellipse([px[i] - 1.6, py[i] - 1.6, px[i] + 1.6, py[i] + 1.6], fill=c)
    if palette is not None and len(palette):
        pal = np.asarray(palette)[:, :3]
        qx, qy, qz = project(pal)
        r = 7 if len(pal) <= 32 else 5 if len(pal) <= 64 else 3.5
        for i in np.argsort(-qz):
            c = tuple(int(v) for v in pal[i])
            d.ellipse([qx[i] - r - 1, qy[i] - r - 1, qx[i] + r + 1, qy[i] + r + 1], fill=(0, 0, 0))
            d.ellipse([qx[i] - r, qy[i] - r, qx[i] + r, qy[i] + r], fill=c, outline=(255, 255, 255))
    return np.asarray(im)
