"""Synthetic training pictures and photo augmentations: what the training photos lack.

The training photos are natural scenes. Users also quantize screenshots, slides, drawings, comics and scans, whose
statistics differ: large flat areas, hard edges with or without anti-aliasing, thin lines, text, screentone dots,
smooth synthetic gradients, and grain. :func:`picture` draws one such picture from a seeded generator, by layering
a background (flat, linear or radial gradient) with a random mix of shapes, strokes, text, dot screens and noise;
:func:`augment` varies a photo's scale, colour and sharpness. Both are plain NumPy and Pillow, so they run (and are
tested) without PyTorch.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

#: The kinds of layer :func:`picture` draws, each with its relative frequency.
LAYERS = {"shapes": 3, "strokes": 3, "text": 2, "screentone": 2, "noise": 1, "gradient": 1}
WORDS = (
    "qfast",
    "Quantize",
    "PALETTE",
    "levels 4..64",
    "Fig. 3",
    "#2a7fff",
    "OK",
    "Cancel",
    "x = 0.25",
    "The quick brown fox",
    "jumps over",
    "1024 x 768",
    "Page 12",
    "(c) 2026",
    "Chapter 7",
    "!?",
    "-->",
)


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    """A random colour: saturated, pastel, dark or grey, as drawn and designed pictures use them."""
    kind = rng.integers(4)
    if kind == 0:
        return tuple(int(v) for v in rng.integers(0, 256, 3))
    if kind == 1:
        return tuple(int(v) for v in rng.integers(160, 256, 3))
    if kind == 2:
        return tuple(int(v) for v in rng.integers(0, 80, 3))
    g = int(rng.integers(256))
    return (g, g, g)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A flat colour, a linear gradient or a radial gradient, (size, size, 3) float32 in 0..255."""
    a, b = np.array(_colour(rng), np.float32), np.array(_colour(rng), np.float32)
    kind = rng.integers(3)
    if kind == 0:
        return np.broadcast_to(a, (size, size, 3)).copy()
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    if kind == 1:
        angle = rng.uniform(0, 2 * np.pi)
        t = np.cos(angle) * xx + np.sin(angle) * yy
    else:
        cy, cx = rng.uniform(0, 1, 2)
        t = np.hypot(yy - cy, xx - cx)
    t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    return a + (b - a) * t[..., None]


def _draw_shapes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    for _ in range(int(rng.integers(1, 8))):
        x0, y0 = rng.integers(-size // 4, size, 2)
        w, h = rng.integers(size // 16, size // 2 + 1, 2)
        box = [int(x0), int(y0), int(x0 + w), int(y0 + h)]
        fill = _colour(rng)
        outline = _colour(rng) if rng.random() < 0.4 else None
        width = int(rng.integers(1, 6))
        kind = rng.integers(3)
        if kind == 0:
            draw.rectangle(box, fill=fill, outline=outline, width=width)
        elif kind == 1:
            draw.ellipse(box, fill=fill, outline=outline, width=width)
        else:
            corners = rng.integers(-size // 8, size + size // 8, (int(rng.integers(3, 7)), 2))
            pts = [(int(x), int(y)) for x, y in corners]
            draw.polygon(pts, fill=fill, outline=outline)


def _draw_strokes(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    ink = _colour(rng) if rng.random() < 0.5 else (0, 0, 0)
    for _ in range(int(rng.integers(2, 16))):
        n = int(rng.integers(2, 6))
        start = rng.uniform(0, size, 2)
        pts = start + np.cumsum(rng.normal(0, size / 6, (n, 2)), axis=0)
        draw.line([(float(x), float(y)) for x, y in pts], fill=ink, width=int(rng.integers(1, 5)), joint="curve")


def _draw_text(draw: ImageDraw.ImageDraw, rng: np.random.Generator, size: int) -> None:
    ink = _colour(rng)
    for _ in range(int(rng.integers(1, 6))):
        font = ImageFont.load_default(size=float(rng.integers(8, 40)))
        xy = (int(rng.integers(-10, size - 10)), int(rng.integers(-10, size - 10)))
        draw.text(xy, str(WORDS[int(rng.integers(len(WORDS)))]), fill=ink, font=font)


def _screentone(rng: np.random.Generator, size: int) -> np.ndarray:
    """A comic's dot screen: a coverage mask of (size, size) in 0..1, dots on a rotated grid."""
    period = rng.uniform(3, 10)
    angle = rng.uniform(0, np.pi / 2)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    u = (np.cos(angle) * xx + np.sin(angle) * yy) / period
    v = (-np.sin(angle) * xx + np.cos(angle) * yy) / period
    d = np.hypot(u - np.round(u), v - np.round(v))
    radius = rng.uniform(0.15, 0.45)
    return (d < radius).astype(np.float32)


def picture(rng: np.random.Generator, size: int = 256) -> np.ndarray:
    """One synthetic picture, (size, size, 3) uint8 RGB: a background and one to four random layers (shapes,
    strokes, text, screentone, noise or another gradient), drawn aliased or anti-aliased (at twice the size, then
    reduced), and grey with probability 1/5."""
    aa = rng.random() < 0.5
    big = size * 2 if aa else size
    canvas = _background(rng, big)
    kinds, weights = list(LAYERS), np.array(list(LAYERS.values()), np.float64)
    for kind in rng.choice(kinds, size=int(rng.integers(1, 5)), p=weights / weights.sum()):
        if kind in ("shapes", "strokes", "text"):
            img = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8))
            draw = ImageDraw.Draw(img)
            {"shapes": _draw_shapes, "strokes": _draw_strokes, "text": _draw_text}[kind](draw, rng, big)
            canvas = np.asarray(img).astype(np.float32)
        elif kind == "screentone":
            mask = _screentone(rng, big)[..., None]
            region = _background(rng, big)[..., :1] > rng.uniform(0, 255)  # tone only part of the picture
            ink = np.array(_colour(rng), np.float32)
            canvas = np.where(region, canvas * (1 - mask) + ink * mask, canvas)
        elif kind == "noise":
            sigma = rng.uniform(2, 25)
            noise = rng.normal(0, sigma, (big, big, 1 if rng.random() < 0.5 else 3)).astype(np.float32)
            if rng.random() < 0.5:
                noise = (
                    np.asarray(
                        Image.fromarray(np.clip(noise[..., 0] + 128, 0, 255).astype(np.uint8)).filter(
                            ImageFilter.GaussianBlur(rng.uniform(0.5, 2))
                        ),
                        np.float32,
                    )[..., None]
                    - 128
                )
            canvas = canvas + noise
        else:
            alpha = rng.uniform(0.2, 0.8)
            canvas = (1 - alpha) * canvas + alpha * _background(rng, big)
    out = Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8))
    if aa:
        out = out.resize((size, size), Image.Resampling.BOX)
    arr = np.asarray(out)
    if rng.random() < 0.2:
        grey = np.rint(arr @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        arr = np.repeat(grey[..., None], 3, axis=2)
    return np.ascontiguousarray(arr)


def pictures(n: int, seed: int, size: int = 256) -> list[np.ndarray]:
    """``n`` synthetic pictures from ``seed`` (the same list every time)."""
    rng = np.random.default_rng(seed)
    return [picture(rng, size) for _ in range(n)]


def augment(rng: np.random.Generator, img: np.ndarray, min_side: int) -> np.ndarray:
    """A randomly varied copy of a uint8 RGB photo: with probability 0.3 reduced in scale (0.5 to 1, never below
    ``min_side``), 0.3 a colour change (saturation 0 to 1.6 and a gamma of 0.7 to 1.4), 0.05 made grey, and 0.1
    blurred (Gaussian, sigma 0.3 to 1, as a soft scan or a JPEG's lost detail). Otherwise returned as it is."""
    out = img
    if rng.random() < 0.3:
        h, w = out.shape[:2]
        s = max(rng.uniform(0.5, 1.0), min_side / min(h, w))
        if s < 1.0:
            out = np.asarray(Image.fromarray(out).resize((round(w * s), round(h * s)), Image.Resampling.LANCZOS))
    if rng.random() < 0.3:
        f = out.astype(np.float32) / 255
        grey = f @ np.array([0.299, 0.587, 0.114], np.float32)
        f = grey[..., None] + rng.uniform(0.0, 1.6) * (f - grey[..., None])
        f = np.clip(f, 0, 1) ** rng.uniform(0.7, 1.4)
        out = np.rint(f * 255).astype(np.uint8)
    if rng.random() < 0.05:
        grey = np.rint(out @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
        out = np.repeat(grey[..., None], 3, axis=2)
    if rng.random() < 0.1:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0))))
    return np.ascontiguousarray(out)
