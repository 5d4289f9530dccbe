"""Reading an uploaded file (PNG, JPEG, WebP, TIFF, or ``.qfz``) into an image: :func:`load_upload`; and
:func:`channels`."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

import qfast

from .settings import FEATURES, MAX_PIXELS, MAX_UPLOAD_BYTES, UPLOAD_TYPES, UploadError


def load_upload(
    filename: str, data: bytes, *, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = MAX_PIXELS
) -> tuple[np.ndarray, str]:
    """Reads an uploaded file (PNG, JPEG, WebP, TIFF, or ``.qfz`` when the codec is present).

    Greyscale stays (H, W); an alpha channel is composited on white (the note says so); palette and other modes
    become RGB.

    Args:
        filename: the file's name (only its extension is used, to recognise ``.qfz``).
        data: the file's bytes.
        max_bytes: refuse larger files.
        max_pixels: refuse images with more pixels (checked from the header, before decoding).

    Returns:
        ``(image, note)``: a uint8 (H, W) or (H, W, 3) array and a short note about any conversion ("" if none).

    Raises:
        UploadError: too large, too many pixels, not an image, truncated, or an unsupported format.
    """
    from PIL import Image, UnidentifiedImageError

    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise UploadError(f"{filename}: expected the file's bytes, got {type(data).__name__}")
    size = len(data)
    if size > max_bytes:
        raise UploadError(f"{filename}: {size / 1e6:.1f} MB is over the {max_bytes / 1e6:.0f} MB upload limit")
    if size == 0:
        raise UploadError(f"{filename}: the file is empty")
    if filename.lower().endswith(".qfz") or bytes(data[:4]) == b"\x89QFZ":
        return _load_qfz(filename, bytes(data), max_pixels), ""
    import warnings

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # the limit is max_pixels, below
            im = Image.open(io.BytesIO(data))
        with im:
            if im.format not in UPLOAD_TYPES:
                raise UploadError(f"{filename}: {im.format} files are not supported (use PNG, JPEG, WebP or TIFF)")
            w, h = im.size
            if w * h > max_pixels:
                raise UploadError(
                    f"{filename}: {w} x {h} is {w * h / 1e6:.0f} megapixels, over the {max_pixels / 1e6:.0f} MP limit"
                )
            deep = _sixteen_bit(im)
            im.load()
            img, note = _to_array(im)
            if deep and not note:  # Pillow read 16-bit colour as 8 bits (the high byte of each value)
                note = f"{deep} image shown as 8 bits (the high byte of each value)"
            return img, note
    except UploadError:
        raise
    except Image.DecompressionBombError as e:
        raise UploadError(f"{filename}: too many pixels, over the {max_pixels / 1e6:.0f} MP limit ({e})") from e
    except UnidentifiedImageError:
        raise UploadError(f"{filename}: not an image qfast can read (use PNG, JPEG, WebP, TIFF or .qfz)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError(f"{filename}: damaged or truncated image ({e})") from e


def _sixteen_bit(im: Any) -> str:
    from qfast._io import sixteen_bit

    return sixteen_bit(im)


def _to_array(im: Any) -> tuple[np.ndarray, str]:
    from PIL import Image

    note = ""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: Pillow's convert("L") clips every value above 255 to white; scale instead
        wide = np.asarray(im).astype(np.int64)
        lo, hi = int(wide.min()), int(wide.max())
        if im.mode == "I" and (lo < 0 or hi > 65535):
            scaled = np.round((wide - lo) * (255 / max(1, hi - lo)))
            note = f"32-bit greyscale ({lo}..{hi}) scaled to 8 bits"
        else:
            scaled = np.round(wide / 257)
            note = "16-bit greyscale shown as 8 bits (each value / 257, rounded)"
        return scaled.astype(np.uint8), note
    if im.mode in ("L", "F", "1"):
        if im.mode != "L":
            note = f"{im.mode} image shown as 8-bit greyscale"
        return np.asarray(im.convert("L")), note
    if im.mode == "LA" or im.mode == "RGBA" or im.mode == "PA" or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        note = "the alpha channel was composited on white"
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB")), note
    if im.mode != "RGB":
        note = f"{im.mode} image converted to RGB"
    return np.asarray(im.convert("RGB")), note


def _load_qfz(filename: str, data: bytes, max_pixels: int) -> np.ndarray:
    if not FEATURES["codec"]:
        raise UploadError(f"{filename}: .qfz files need the codec, which is not available in this build")
    format_error = getattr(qfast, "FormatError", ValueError)
    try:
        header = qfast.inspect(data) if hasattr(qfast, "inspect") else {}
        w, h = int(header.get("width", 0)), int(header.get("height", 0))
        if w * h > max_pixels:
            raise UploadError(f"{filename}: {w} x {h} is over the {max_pixels / 1e6:.0f} MP limit")
        img = qfast.decode(data, correct=False)
    except UploadError:
        raise
    except format_error as e:
        raise UploadError(f"{filename}: not a valid .qfz file ({e})") from e
    except (ValueError, TypeError) as e:
        raise UploadError(f"{filename}: cannot decode ({e})") from e
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[2] == 4:
        img = img[:, :, :3]
    return np.ascontiguousarray(img)


def channels(img: np.ndarray) -> int:
    """1 for (H, W), else C."""
    return 1 if img.ndim == 2 else int(img.shape[2])
