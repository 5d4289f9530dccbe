"""Images as files and URIs: PNG bytes and ``data:`` URIs for the page, the heat map's indexed PNG, and the
downloads (PNG, indexed PNG, GIF, the ladder's animated GIF)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from .pictures import HEAT_LUT, thumbnail
from .settings import Result


def to_pil(img: np.ndarray) -> Any:
    """A PIL image of a uint8 (H, W) or (H, W, 3|4) array."""
    from PIL import Image

    return Image.fromarray(img[:, :, 0] if img.ndim == 3 and img.shape[2] == 1 else img)


def png_bytes(img: np.ndarray, *, fast: bool = True) -> bytes:
    """PNG file bytes; ``fast`` trades size for speed (zlib level 1), for the page's previews."""
    buf = io.BytesIO()
    to_pil(img).save(buf, format="PNG", compress_level=1 if fast else 6)
    return buf.getvalue()


def data_uri(img: np.ndarray, *, fast: bool = True) -> str:
    """A ``data:image/png;base64,...`` URI of ``img``, for ``<img src=...>``."""
    return "data:image/png;base64," + base64.b64encode(png_bytes(img, fast=fast)).decode("ascii")


def heat_png(levels: np.ndarray) -> bytes:
    """A heat map from :func:`.pictures.error_levels` as an indexed PNG (one byte per pixel, :data:`.pictures.HEAT_LUT`
    as palette)."""
    im = to_pil(levels).convert("P")
    im.putpalette(HEAT_LUT.reshape(-1).tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def indexed_image(result: Result) -> Any:
    """The result as a palette ("P") PIL image, for indexed PNG and GIF.

    Palette results use their own palette; other results qualify when they hold at most 256 distinct colours.

    Raises:
        ValueError: more than 256 colours.
    """
    from PIL import Image

    if "pil" in result.extra:
        return result.extra["pil"]()
    img = result.image
    if img.ndim == 2:
        return Image.fromarray(img).convert("P")
    flat = img.reshape(-1, img.shape[2])[:, :3]
    colours, inverse = np.unique(flat, axis=0, return_inverse=True)
    if len(colours) > 256:
        raise ValueError(
            f"result: {len(colours)} colours, more than an indexed image holds (256); "
            "use fewer levels or the palette method"
        )
    p = Image.fromarray(inverse.reshape(img.shape[:2]).astype(np.uint8)).convert("P")
    pal = np.zeros((256, 3), np.uint8)
    pal[: len(colours)] = colours
    p.putpalette(pal.reshape(-1).tolist())
    return p


def export_bytes(result: Result, fmt: str) -> bytes:
    """The result as a file: ``fmt`` is ``"png"``, ``"indexed-png"`` or ``"gif"``.

    Raises:
        ValueError: an unknown ``fmt``, or more than 256 colours for an indexed format.
    """
    buf = io.BytesIO()
    if fmt == "png":
        to_pil(result.image).save(buf, format="PNG")
    elif fmt in ("indexed-png", "gif"):
        indexed_image(result).save(buf, format="PNG" if fmt == "indexed-png" else "GIF", optimize=True)
    else:
        raise ValueError(f"fmt: expected 'png', 'indexed-png' or 'gif', got {fmt!r}")
    return buf.getvalue()


def ladder_gif(original: np.ndarray, rungs: list[Result], *, width: int = 384, ms: int = 900) -> bytes:
    """An animated GIF stepping from the original down the ladder, each frame labelled."""
    from PIL import Image, ImageDraw

    frames = []
    for label, img in [("original", original)] + [(r.settings.label(), r.image) for r in rungs]:
        im = to_pil(thumbnail(img, width)).convert("RGB")
        d = ImageDraw.Draw(im)
        d.rectangle([0, 0, im.width, 16], fill=(0, 0, 0))
        d.text((4, 2), label, fill=(255, 255, 255))
        frames.append(im.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:], duration=ms, loop=0)
    return buf.getvalue()
