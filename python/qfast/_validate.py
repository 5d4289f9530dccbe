"""Argument checks shared by the public API: clear TypeErrors and ValueErrors that name the argument."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np

from ._arrays import as_array

Levels = Union[int, Sequence[int]]

_PIL_MODES = {"1": "L", "P": None, "CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB"}


def as_image(image: Any, arg: str = "image") -> np.ndarray:
    """Returns `image` as a C-contiguous uint8 array of shape (H, W) or (H, W, C) with C in 1..4.

    NumPy arrays of any strides, array-likes (``__array__``, ``__dlpack__``, buffers, CPU torch tensors in HWC
    layout; see :mod:`qfast._arrays`) and PIL images are accepted; palette ("P") images are expanded to RGB or RGBA and
    1-bit images to 8-bit greyscale. Raises TypeError for other types and dtypes, ValueError for other shapes.
    Masked arrays are refused (TypeError): qfast would otherwise quantize the values under the mask as if they were
    there; fill them first (``image.filled(0)``) or pass ``image.data`` to ignore the mask deliberately.
    """
    if isinstance(image, np.ma.MaskedArray):
        raise TypeError(
            f"{arg}: masked arrays are not supported (the mask would be ignored); pass image.filled(value) "
            "or image.data"
        )
    if _is_pil(image):
        image = _from_pil(image, arg)
    image = as_array(image, arg)
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{arg}: expected a NumPy uint8 array or a PIL image, got {type(image).__name__}")
    if image.dtype != np.uint8:
        hint = " (scale floats in [0, 1] with (x * 255).round().astype(np.uint8))" if image.dtype.kind == "f" else ""
        if image.dtype in (np.uint16, np.int32, np.uint32):
            hint = (
                " (this function works on 8 bits per channel; the scalar quantizers (quantize_uniform, "
                "uniform_indices, quantize_lloyd_max, quantize_mu_law) take uint16 arrays; else use "
                "(x >> 8).astype(np.uint8), the high byte, or (x / 257).round().astype(np.uint8), "
                "the nearest 8-bit value)"
            )
        raise TypeError(f"{arg}: expected dtype uint8, got {image.dtype}{hint}")
    if image.ndim not in (2, 3) or (image.ndim == 3 and not 1 <= image.shape[2] <= 4):
        raise ValueError(f"{arg}: expected shape (H, W) or (H, W, C) with C in 1..4, got {image.shape}")
    if image.size == 0:
        raise ValueError(f"{arg}: expected a non-empty image, got shape {image.shape}")
    return np.ascontiguousarray(image)


def as_bytes(values: Any, arg: str) -> np.ndarray:
    """Returns `values` (a uint8 array of any shape) as a flat C-contiguous uint8 array."""
    if not isinstance(values, np.ndarray):
        raise TypeError(f"{arg}: expected a NumPy uint8 array, got {type(values).__name__}")
    if values.dtype != np.uint8:
        raise TypeError(f"{arg}: expected dtype uint8, got {values.dtype}")
    return np.ascontiguousarray(values).reshape(-1)


def channels_of(image: np.ndarray) -> int:
    """The channel count of a checked image: 1 for (H, W)."""
    return 1 if image.ndim == 2 else int(image.shape[2])


#: The largest int the core takes (a signed 64-bit integer): larger ones are a ValueError here, not an OverflowError
#: from the conversion.
INT_MAX = 2**63 - 1


def _scalar(value: Any) -> Any:
    """A 0-d NumPy array's value (``np.array(8)`` -> 8): accepted wherever a number is."""
    return value.item() if isinstance(value, np.ndarray) and value.ndim == 0 else value


def as_int(value: Any, arg: str, lo: int, hi: Optional[int] = None) -> int:
    """`value` (an int, a NumPy integer or a 0-d integer array) as an int in lo..hi (hi inclusive; None for up to
    :data:`INT_MAX`); bools are refused."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{arg}: expected an int, got {type(value).__name__}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"{arg}: expected {lo}..{hi if hi is not None else ''}, got {v}")
    if v > INT_MAX:
        raise ValueError(f"{arg}: expected {lo}..{INT_MAX}, got {v}")
    return v


def as_float(value: Any, arg: str) -> float:
    """`value` (a real number, a NumPy number or a 0-d array) as a float; bools, non-numbers and numbers too large
    for a float are refused."""
    value = _scalar(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{arg}: expected a number, got {type(value).__name__}")
    try:
        return float(value)
    except OverflowError:
        raise ValueError(f"{arg}: expected a number within the float range, got one too large") from None


def as_positive(value: Any, arg: str, *, allow_zero: bool) -> float:
    """`value` as a finite float > 0 (>= 0 with ``allow_zero``); TypeError or ValueError naming `arg`."""
    v = as_float(value, arg)
    if not (math.isfinite(v) and (v >= 0 if allow_zero else v > 0)):
        raise ValueError(f"{arg}: expected a finite number {'>=' if allow_zero else '>'} 0, got {v}")
    return v


def resolve_levels(levels: Optional[Levels], bits: Optional[Levels], channels: int) -> list[int]:
    """One level count per channel from `levels` (2..256) or `bits` (1..8), each an int or one per channel.

    Alpha is kept unless asked for: with one value for all channels, the alpha channel of a 2-channel (LA) or
    4-channel (RGBA) image gets 256 levels (every value its own bin, so it passes through unchanged); a list of one
    value per channel gives alpha its own."""
    if (levels is None) == (bits is None):
        raise TypeError("levels: give exactly one of levels or bits")
    value, arg, lo, hi = (levels, "levels", 2, 256) if levels is not None else (bits, "bits", 1, 8)
    assert value is not None
    if has_alpha(channels) and not is_per_channel(value):
        out = per_channel(value, arg, channels - 1, lo, hi) + [256 if arg == "levels" else 8]
    else:
        out = per_channel(value, arg, channels, lo, hi)
    return out if arg == "levels" else [1 << b for b in out]


def has_alpha(channels: int) -> bool:
    """Whether an image of this many channels has an alpha channel (its last): LA (2) and RGBA (4)."""
    return channels in (2, 4)


def is_per_channel(value: Any) -> bool:
    """Whether a levels-like argument is a sequence of one value per channel (not one value for all)."""
    if isinstance(value, np.ndarray):
        return value.ndim > 0
    return isinstance(value, (list, tuple))


def per_channel(value: Levels, arg: str, channels: int, lo: int, hi: int) -> list[int]:
    """One int in lo..hi per channel from ``value``: an int for all channels, or a sequence of one per channel."""
    if isinstance(value, np.ndarray):
        value = value.tolist()  # a 0-d array becomes its scalar
    if isinstance(value, (list, tuple)):
        if len(value) != channels:
            raise ValueError(f"{arg}: expected one value per channel ({channels}), got {len(value)}")
        return [as_int(v, arg, lo, hi) for v in value]
    return [as_int(value, arg, lo, hi)] * channels


def _is_pil(obj: Any) -> bool:
    mod = type(obj).__module__
    return mod.startswith("PIL.") and hasattr(obj, "mode") and hasattr(obj, "convert")


def _from_pil(img: Any, arg: str) -> np.ndarray:
    mode = img.mode
    if mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif mode == "PA":
        img = img.convert("RGBA")
    elif mode in _PIL_MODES:
        img = img.convert(_PIL_MODES[mode])
    elif mode.startswith("I;16") or mode == "I":
        raise TypeError(
            f"{arg}: a 16-bit PIL image (mode {mode!r}): qfast works on 8 bits per channel; convert it first, e.g. "
            "(np.asarray(im) >> 8).astype(np.uint8) (Pillow's convert('L') would clip every value over 255 to white)"
        )
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        raise TypeError(f"{arg}: expected an 8-bit PIL image (L, LA, RGB, RGBA, P, 1), got mode {mode!r}")
    return np.asarray(img)


def as_choice(value: Any, arg: str, choices: Sequence[str]) -> str:
    """`value` if it is one of the strings `choices`; ValueError naming `arg` and the choices otherwise."""
    if not isinstance(value, str) or value not in choices:
        names = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{arg}: expected one of {names}, got {value!r}")
    return value


def as_images(images: Any, arg: str = "images") -> list[np.ndarray]:
    """One image, or a non-empty list or tuple of images with the same channel count, as checked arrays."""
    if isinstance(images, (list, tuple)):
        if not images:
            raise ValueError(f"{arg}: expected at least one image, got an empty {type(images).__name__}")
        out = [as_image(im, f"{arg}[{i}]") for i, im in enumerate(images)]
        first = channels_of(out[0])
        for i, im in enumerate(out[1:], 1):
            if channels_of(im) != first:
                raise ValueError(
                    f"{arg}: expected the same channel count in every image, got {first} in {arg}[0] "
                    f"and {channels_of(im)} in {arg}[{i}]"
                )
        return out
    return [as_image(images, arg)]


def as_palette(palette: Any, arg: str = "palette", alpha: bool = False) -> np.ndarray:
    """`palette` (an (n, 3) array-like of integers 0..255, n in 1..65536, or a PIL "P" image, whose palette it takes)
    as a C-contiguous uint8 array. With ``alpha``, (n, 4) RGBA palettes (n in 1..256) are accepted too, and a PIL
    image with transparency (``info["transparency"]``, as PNG's ``tRNS`` and GIF's transparent index load) gives its
    RGBA palette."""
    if _is_pil(palette):
        if palette.mode not in ("P", "PA"):
            raise TypeError(
                f"{arg}: a PIL image as a palette must be an indexed (mode 'P') image, got mode {palette.mode!r}; "
                "build a palette from it with qfast.kmeans_palette(image, k)"
            )
        entries = palette.getpalette("RGB") or []
        used = palette.getcolors(256) if palette.mode == "P" else None
        count = max((i for _, i in used), default=-1) + 1 if used else len(entries) // 3
        rgb = np.asarray(entries[: 3 * max(count, 1)], np.uint8).reshape(-1, 3)
        t = palette.info.get("transparency")
        if alpha and t is not None:
            a = np.full(len(rgb), 255, np.uint8)
            if isinstance(t, (bytes, bytearray)):
                a[: min(len(t), len(a))] = np.frombuffer(bytes(t), np.uint8)[: len(a)]
            elif isinstance(t, int) and 0 <= t < len(a):
                a[t] = 0
            rgb = np.column_stack([rgb, a])
        palette = rgb
    try:
        arr = np.asarray(palette)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{arg}: expected an (n, 3) array of integers 0..255 ({e})") from None
    if arr.dtype != np.uint8:
        if arr.size and arr.dtype.kind not in "iu":
            raise TypeError(f"{arg}: expected integers 0..255 (uint8), got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise ValueError(f"{arg}: expected values in 0..255, got {arr.min()}..{arr.max()}")
    widths = (3, 4) if alpha else (3,)
    if arr.ndim != 2 or arr.shape[1] not in widths:
        expected = "(n, 3) (RGB) or (n, 4) (RGBA)" if alpha else "(n, 3)"
        raise ValueError(f"{arg}: expected shape {expected}, got {arr.shape}")
    top = 256 if arr.shape[1] == 4 else 65536
    if not 1 <= arr.shape[0] <= top:
        kind = "RGBA " if arr.shape[1] == 4 else ""
        raise ValueError(f"{arg}: expected 1..{top} {kind}colours, got {arr.shape[0]}")
    return np.ascontiguousarray(arr, dtype=np.uint8)
