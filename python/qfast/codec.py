"""The QANN codec: ``.qfz`` files with a guaranteed maximum error (or a few levels per channel), small and fast.

Encode quantizes each channel (bins of at most ``2d + 1`` values for a max error ``d``, or ``L`` uniform levels),
applies a colour transform to the index planes (YCoCg-R, exact) or to the values (YCbCr, optionally with 4:2:0
chroma), predicts each plane from its neighbours (MED; from ``effort=3`` a blend of predictors weighted by their local
errors) and entropy-codes the residuals with a context-adaptive arithmetic coder (``effort=0``: Golomb-Rice codes in
parallel stripes, JPEG-LS's modelling, the fastest; ``effort=1``: Brotli). Decode reverses this
to the mid-bin reconstruction and, where a QANN corrector is installed and the file names one, lets it win back
quality (in bounded mode, only inside the bound). The container is specified in ``docs/FORMAT.md``.
"""

from __future__ import annotations

import functools
import hashlib
import math
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _core
from ._validate import Levels, as_float, as_image, as_int, channels_of, has_alpha, is_per_channel, per_channel

#: A malformed ``.qfz`` file (bad magic, unknown version, CRC mismatch, truncation, a field out of range).
FormatError = _core.FormatError

#: The default limit on width x height when decoding: 178,956,970 pixels, twice Pillow's default MAX_IMAGE_PIXELS.
DEFAULT_MAX_PIXELS: int = _core.DEFAULT_MAX_PIXELS

_COLORS = {"auto": None, "rgb": "none", "none": "none", "ycocg": "ycocg", "ycbcr": "ycbcr"}
_MAX_ERROR = 32
#: Bounded mode with a corrector: this many times the fewest levels the bound needs. Bins about 13% narrower than
#: ``2d + 1`` cost about 8% more bits and leave the corrector a window inside every bin in which any output keeps
#: the bound (Kodak at d = 2: 5.39 bpp and 46.9 dB instead of 5.09 bpp and 45.3 dB; README, "The codec").
_CORRECTOR_HEADROOM = 1.15

PathLike = Union[str, "os.PathLike[str]"]


def _image(image: Any) -> np.ndarray:
    img = as_image(image)
    if img.ndim == 3 and img.shape[2] not in (3, 4):
        raise ValueError(f"image: expected shape (H, W), (H, W, 3) or (H, W, 4), got {img.shape}")
    return img


def _color(color: Any, mode: str, channels: int, subsample: bool) -> str:
    if not isinstance(color, str) or color not in _COLORS:
        raise ValueError(f"color: expected 'auto', 'rgb', 'ycocg' or 'ycbcr', got {color!r}")
    c = _COLORS[color]
    if subsample and mode == "bounded":
        raise ValueError("subsample: only in levels mode (subsampled chroma cannot keep max_error)")
    if channels == 1:
        if subsample:
            raise ValueError("subsample: needs a colour image")
        return "none"
    if c is None:
        c = "ycbcr" if subsample else "ycocg"
    if c == "ycbcr" and mode == "bounded":
        raise ValueError("color: 'ycbcr' is not exact, so it cannot keep max_error; use 'ycocg' or 'rgb'")
    if subsample and c != "ycbcr":
        raise ValueError(f"subsample: needs color='ycbcr' (levels mode), got color={color!r}")
    return c


@functools.lru_cache(maxsize=8)
def _file_id(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.digest()[:8]


def _shipped_corrector(name: str = "default") -> Optional[Any]:
    """The shipped ``qfast.Corrector`` ``name`` ("default" for RGB bins, "ycbcr420" for YCbCr 4:2:0 files), or None
    where the corrector (or that model, or onnxruntime) is not installed."""
    import qfast

    corrector_cls = getattr(qfast, "Corrector", None)
    return None if corrector_cls is None else _corrector_of(corrector_cls, name)


@functools.lru_cache(maxsize=8)
def _corrector_of(corrector_cls: Any, name: str) -> Optional[Any]:
    # Made once per process (per class): an onnxruntime session costs tens of milliseconds, more than encoding.
    try:
        return corrector_cls(model=name)
    except (ImportError, OSError, ValueError, RuntimeError, KeyError):
        return None


def _model_for(color: str, subsample: bool) -> Optional[str]:
    """The shipped corrector that undoes a file's quantization: "ycbcr420" for YCbCr 4:2:0, none for other YCbCr,
    else "default"."""
    if color == "ycbcr":
        return "ycbcr420" if subsample else None
    return "default"


def _corrector_id(corrector: Any) -> bytes:
    """The 8-byte id a file records for ``corrector``: a prefix of the SHA-256 of its model file."""
    path = getattr(corrector, "path", None)
    return _file_id(str(path)) if path is not None else b""


#: The shipped models that decode each kind of file, newest first: encode records the first one's id; decode runs
#: whichever one the file names, so files written with an earlier model keep their corrector.
DECODE_MODELS = {"default": ("default", "rgb-v1"), "ycbcr420": ("ycbcr420",)}


def _shipped_id(name: str) -> Optional[str]:
    """The hex id of the shipped model ``name`` (its file's hash, so no onnxruntime session is made to learn it), or
    None where it is not installed."""
    from .corrector import model_path

    try:
        return _file_id(str(model_path(name))).hex()
    except (OSError, KeyError):
        return None


def _shipped_ids() -> set[str]:
    """The hex ids of every installed shipped decode model."""
    return {i for names in DECODE_MODELS.values() for i in map(_shipped_id, names) if i is not None}


def _resolve_corrector(spec: Any, model: Optional[str]) -> bytes:
    if spec is None:
        return b""
    if spec == "auto":
        c = _shipped_corrector(model) if model is not None else None
        return _corrector_id(c) if c is not None else b""
    if isinstance(spec, str) and len(spec) == 16:
        try:
            return bytes.fromhex(spec)
        except ValueError:
            pass
    raise ValueError(f"corrector: expected 'auto', None or 16 hex digits, got {spec!r}")


def encode(
    image: Any,
    *,
    max_error: Optional[Levels] = None,
    levels: Optional[Levels] = None,
    target_bpp: Optional[float] = None,
    color: str = "auto",
    subsample: bool = False,
    effort: int = 2,
    corrector: Optional[str] = "auto",
    strength_map: bool = True,
) -> bytes:
    """Compresses an image into ``.qfz`` bytes.

    Give exactly one of ``max_error`` (bounded mode), ``levels`` or ``target_bpp`` (levels mode).

    Args:
        image: uint8 array (H, W), (H, W, 3) or (H, W, 4), any strides; or a PIL image.
        max_error: bounded mode: every channel of every pixel decodes within ``d`` of the original, d in 0..32
            (0 is lossless); an int or one per channel (one int bounds the colour channels and keeps an alpha
            channel lossless; a list of four bounds alpha too). Without a corrector (``corrector=None``, or none
            installed) the bins hold ``2d + 1`` values each, the fewest levels and the smallest file for the bound
            (JPEG-LS's near-lossless quantizer). With one, they are about 13% narrower: the file grows by about 8%,
            and decode lets the corrector move each value within the part of its bin that keeps the bound.
        levels: levels mode: uniform levels per channel, 2..256 (an int or one per channel; one int leaves an alpha
            channel at 256 levels, exact, so an opaque image stays opaque); decoded mid-bin, then through the QANN
            corrector where one is installed.
        target_bpp: levels mode with rate control: the largest level count whose file has at most this many bits
            per pixel (the fewest levels, 2, if none does); the same for every channel, except that with YCbCr the
            chroma planes get twice as many (up to 256); alpha keeps 256.
        color: ``"auto"`` (YCoCg-R on the index planes, exact; YCbCr with ``subsample``), ``"rgb"``, ``"ycocg"``, or
            ``"ycbcr"`` (levels mode only: JPEG's YCbCr before quantization).
        subsample: levels mode: code Cb and Cr at half width and height (4:2:0).
        effort: 0 the fast coder (LOCO: JPEG-LS's modelling and Golomb-Rice codes, in stripes of rows coded on all
            cores; about 3% larger lossless files than QAC at about half its time, a version-6 file), 1 Brotli (the
            simple baseline), 2 (default) qfast's context-adaptive arithmetic coder (QAC), 3
            the stronger model (QAC2: a blend of predictors weighted by their local errors; about 5% smaller
            lossless and 7-12% smaller bounded files on photos, about 1.6 times the CPU time; a version-3 file), 4
            the strongest (QAC3: QAC2 with two LMS predictors in the blend and mixed context models; another 2% smaller
            lossless and 3-4% smaller bounded, about 2 to 3 times QAC2's time; a version-5 file). Efforts 3 and 4
            also try coding without a colour transform and keep the smaller, judged on an eighth of the rows.
        corrector: ``"auto"`` records the id of the installed corrector for the file (if any: the ``"ycbcr420"``
            model for YCbCr 4:2:0, none for YCbCr without subsampling, else the default model) so decode uses it,
            ``None`` records none, or 16 hex digits of a model id.
        strength_map: where the file records a corrector that decode will run (colour images, uniform bins),
            check it here, against the original: per 64-pixel tile, decode applies all of its change, half of it or
            none, whichever is closest to the original, so the decoded image is no worse than the plain mid-bin
            decode on any tile (measured here, with this machine's corrector). The choices go into the header (a
            version-4 file, 2 bits a tile) unless the full correction wins everywhere. It costs one decode and one
            corrector run at encode. ``False``: no map (decode applies the corrector everywhere).

    Returns:
        The ``.qfz`` file as bytes.

    Raises:
        TypeError: wrong types; both or neither of ``max_error`` and ``levels`` (and ``target_bpp``).
        ValueError: wrong shape, a value out of range, an option that does not fit the mode.

    Example:
        >>> data = qfast.encode(img, max_error=2)
        >>> int(np.abs(qfast.decode(data).astype(int) - img).max()) <= 2
        True
    """
    if not isinstance(strength_map, bool):
        raise TypeError(f"strength_map: expected a bool, got {type(strength_map).__name__}")
    img = _image(image)
    data = _encode(img, max_error, levels, target_bpp, color, subsample, effort, corrector)
    return _with_strengths(data, img) if strength_map else data


def _encode(
    img: np.ndarray,
    max_error: Optional[Levels],
    levels: Optional[Levels],
    target_bpp: Optional[float],
    color: str,
    subsample: bool,
    effort: int,
    corrector: Optional[str],
) -> bytes:
    """:func:`encode` without the strength map."""
    ch = channels_of(img)
    given = [
        name for name, v in (("max_error", max_error), ("levels", levels), ("target_bpp", target_bpp)) if v is not None
    ]
    if len(given) != 1:
        raise TypeError(f"max_error: give exactly one of max_error, levels or target_bpp, got {given or 'none'}")
    if not isinstance(subsample, bool):
        raise TypeError(f"subsample: expected a bool, got {type(subsample).__name__}")
    eff = as_int(effort, "effort", 0, 4)
    mode = "bounded" if max_error is not None else "levels"
    col = _color(color, mode, ch, subsample)
    cid = _resolve_corrector(corrector, _model_for(col, subsample))
    coder = {0: "loco", 1: "brotli", 2: "qac", 3: "qac2", 4: "qac3"}[eff]

    def run(mode: str, values: list[int], col: str, bins: Optional[list[int]] = None) -> bytes:
        def code(part: np.ndarray, col: str) -> bytes:
            return _core.encode(part, mode, values, col, subsample, coder, 9, cid, bins)

        if eff >= 3 and col != "none" and not subsample:
            return _smaller_of_transforms(img, code, col)
        return code(img, col)

    if max_error is not None:
        ds = _with_alpha(max_error, "max_error", ch, 0, _MAX_ERROR, 0)
        if not cid or not any(ds) or ch == 1:  # the corrector works on colour images only
            return run("bounded", ds, col)
        # the corrector moves R, G and B only: alpha gets the fewest uniform levels that keep its bound
        bins = [min(256, math.ceil(_CORRECTOR_HEADROOM * 256 / (2 * d + 1))) for d in ds[:3]]
        bins += [math.ceil(256 / (2 * d + 1)) for d in ds[3:]]
        return run("bounded", ds, col, bins)
    if levels is not None:
        return run("levels", _with_alpha(levels, "levels", ch, 2, 256, 256), col)
    target = as_float(target_bpp, "target_bpp")
    if not target > 0:
        raise ValueError(f"target_bpp: expected a positive number, got {target}")
    budget = target * img.shape[0] * img.shape[1] / 8
    lo, hi = 2, 256
    best = run("levels", _rate_levels(2, ch, col), col)
    # The file size grows with the level count (almost always monotonically): bisect on it.
    while lo < hi:
        mid = (lo + hi + 1) // 2
        data = run("levels", _rate_levels(mid, ch, col), col)
        if len(data) <= budget:
            lo, best = mid, data
        else:
            hi = mid - 1
    return best


#: Efforts 3 and 4 choose between the colour transform and none by coding this many bands of rows both ways, spread
#: over the image and an eighth of its rows in all; an image too short for bands of 8 rows is coded whole both ways.
#: On the 24 Kodak and 33 other images, lossless and at d = 2, the sample chose as the whole image did except on three
#: where the two were within 0.6%.
_SAMPLE_BANDS = 8


def _smaller_of_transforms(img: np.ndarray, code: Callable[[np.ndarray, str], bytes], col: str) -> bytes:
    """``code(img, col)`` or ``code(img, "none")``, whichever is smaller, judged on a sample of ``img``'s rows."""
    h = img.shape[0]
    band = h // (8 * _SAMPLE_BANDS)
    if band < 8:
        a, b = code(img, col), code(img, "none")
        return b if len(b) < len(a) else a
    part = np.concatenate([img[y : y + band] for y in np.linspace(0, h - band, _SAMPLE_BANDS).astype(int)])
    return code(img, "none" if len(code(part, "none")) < len(code(part, col)) else col)


#: Side of the tiles of the corrector's strength map, in pixels (and the larger size used where an image is so long
#: and thin that 64-pixel tiles would not fit the header).
STRENGTH_TILES = (64, 128)


def blend(mid: np.ndarray, full: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """The strength map's outputs: per pixel, code 0 the mid-bin value, 1 half the corrector's change (``(mid +
    full + 1) // 2``, integers, so encoder and decoder agree exactly), 2 the corrector's value. Integer arrays of
    one shape (``codes`` broadcast against them)."""
    m, f = mid.astype(np.int16), full.astype(np.int16)
    return np.where(codes == 2, f, np.where(codes == 1, (m + f + 1) >> 1, m)).astype(np.uint8)


def _with_strengths(data: bytes, img: np.ndarray) -> bytes:
    """``data`` with the corrector strength map that minimises each tile's squared error against ``img``, or as it
    is where decode runs no corrector or the full correction wins on every tile."""
    if _corrector_model(_core.inspect_header(data, img.shape[0] * img.shape[1]), img.ndim) is None:
        return data  # known from the header alone: no decode (lossless and step-bin files, no corrector id)
    plain, header = _core.decode(data, img.shape[0] * img.shape[1])
    with warnings.catch_warnings():  # a corrector named but not installed: decode says so, not the encoder
        warnings.simplefilter("ignore")
        full = apply_corrector(plain.copy(), header)
    if full is None:
        return data
    h, w = img.shape[:2]
    o = img[..., :3].astype(np.int32)
    cands = [full[..., :3], blend(plain[..., :3], full[..., :3], np.ones((1, 1, 1), np.int8)), plain[..., :3]]
    # Each candidate's squared error per pixel, once; summed per tile below at each tile size tried.
    pixel_errs = [((c.astype(np.int32) - o) ** 2).sum(axis=2) for c in cands]
    for tile in STRENGTH_TILES:
        ty, tx = -(-h // tile), -(-w // tile)
        errs = []
        for e in pixel_errs:
            e = np.pad(e, ((0, ty * tile - h), (0, tx * tile - w)))
            errs.append(e.reshape(ty, tile, tx, tile).sum(axis=(1, 3)))
        # Ties go to the stronger correction (the first candidate): full, then half, then none.
        codes = (2 - np.argmin(np.stack(errs), axis=0)).astype(np.uint8)
        if (codes == 2).all():
            return data
        try:
            return _core.with_strength_map(data, tile, codes)
        except FormatError:  # the map does not fit the header at this tile size
            continue
    return data


def _rate_levels(levels: int, channels: int, color: str) -> list[int]:
    """The per-channel levels rate control tries for ``levels``: all the same, except that YCbCr's chroma gets twice
    as many (up to 256). Cb and Cr of natural photos span a narrow part of 0..255, so few levels there band the
    colours, and their smooth (often subsampled) planes cost few bits: on Kodak at 4:2:0, levels [20, 40, 40] give
    34.99 dB at 1.67 bpp where [24, 24, 24] give 34.26 dB at 1.70 bpp."""
    if color != "ycbcr":
        return [levels] * min(channels, 3) + [256] * (channels - 3)
    chroma = min(256, 2 * levels)
    return [levels, chroma, chroma] + [256] * (channels - 3)


def _with_alpha(value: Any, arg: str, channels: int, lo: int, hi: int, exact: int) -> list[int]:
    """One value per channel; given one value for all, alpha (the 4th channel) gets ``exact`` (lossless): alpha is
    kept unless asked for, so an opaque image stays opaque."""
    if has_alpha(channels) and not is_per_channel(value):
        return per_channel(value, arg, channels - 1, lo, hi) + [exact]
    return per_channel(value, arg, channels, lo, hi)


def _as_data(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, (bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"data: expected bytes, got {type(data).__name__}")


def _max_pixels(max_pixels: Any) -> int:
    return as_int(max_pixels, "max_pixels", 1)


def _corrector_model(header: dict, ndim: int, force: bool = False) -> Optional[str]:
    """The model :func:`apply_corrector` would run for this header, as far as the header and the image's rank decide
    (colour, uniform bins, a model for its colour transform, a corrector id or ``force``); None where none runs."""
    if ndim != 3 or header["bins"] != "uniform" or (header["corrector"] is None and not force):
        return None
    return _model_for(header["color"], header["subsampling"] == "4:2:0")


def apply_corrector(image: np.ndarray, header: dict, force: bool = False) -> Optional[np.ndarray]:
    """Runs the QANN corrector on a decoded reconstruction, in place (``image`` is returned), or returns None where
    it does not apply. In place and in bands of rows, so decoding with the corrector needs no second image: beyond
    the output, one tile's network activations and a band of float rows.

    It applies when ``qfast.Corrector`` and the model for the file are installed, the file names that model (or
    ``force`` and it names none), and the image has 3 or 4 channels (alpha passes through):

    - the default model (or the earlier RGB model the file names, :data:`DECODE_MODELS`) when the reconstruction
      lies on uniform RGB bins (levels mode with ``color`` "none" or "ycocg", or bounded mode on uniform bins). The
      output stays in each pixel's quantization bin; in bounded mode, in the part of it within ``max_error`` of
      every value of the bin, so the bound holds whatever the original was;
    - the ``"ycbcr420"`` model for levels mode in YCbCr 4:2:0 (no bins to keep: levels mode promises no bound).
    """
    name = _corrector_model(header, image.ndim, force)
    if name is None:
        return None
    corrector = _shipped_corrector(name)
    if corrector is None:
        return None
    cid = header["corrector"]
    if cid is not None and _corrector_id(corrector).hex() != cid:
        # an earlier model of the same kind, found by its file's hash: a session only for the one the file names
        earlier = [n for n in DECODE_MODELS[name][1:] if _shipped_id(n) == cid]
        corrector = _shipped_corrector(earlier[0]) if earlier else None
        if corrector is None:
            if cid not in _shipped_ids():  # files from before the YCbCr model name the RGB one: no warning
                warnings.warn(
                    f"the file names corrector {cid}, which is not installed; decoding without it", stacklevel=3
                )
            return None
    rgb = image[..., :3]  # a view: alpha, if any, stays as decoded
    levels = [int(v) for v in header["levels"][:3]]
    smap = header.get("strength_map")
    kw = {} if smap is None else {"strengths": (int(header["strength_tile"]), smap)}
    if name == "ycbcr420":
        corrector.correct(rgb, levels, out=rgb, **kw)
        return image
    bound = header["max_error"][:3] if header["mode"] == "bounded" else None
    corrector.correct(rgb, levels, clamp=True, max_error=bound, out=rgb, **kw)
    return image


def decode(data: Any, *, correct: Optional[bool] = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decompresses ``.qfz`` bytes into a uint8 image.

    Args:
        data: the file's bytes (bytes, bytearray or memoryview).
        correct: whether to run the QANN corrector after the mid-bin reconstruction. ``None`` (default): when the
            file names a corrector and it is installed; ``True``: also when the file names none; ``False``: never.
            In bounded mode the corrector's output stays within ``max_error`` of every value of its bin, so the
            bound holds either way; it runs only on files with uniform bins (those written with a corrector), since
            bins of ``2d + 1`` values leave it no room. Levels-mode files in YCbCr 4:2:0 use the ``"ycbcr420"``
            model; YCbCr without subsampling has none.
        max_pixels: refuse files whose header claims more than this many pixels (width x height).

    Returns:
        uint8 array (H, W) or (H, W, C), C = 3 or 4.

    Raises:
        FormatError: a malformed file (bad magic, unknown version, CRC mismatch naming the part, truncation,
            a field out of range, a header claiming more than ``max_pixels`` pixels). A subclass of ValueError.
        TypeError: ``data`` is not bytes-like.

    Example:
        >>> qfast.decode(qfast.encode(img, max_error=0)).shape == img.shape
        True
    """
    raw = _as_data(data)
    if correct is not None and not isinstance(correct, bool):
        raise TypeError(f"correct: expected a bool or None, got {type(correct).__name__}")
    image, header = _core.decode(raw, _max_pixels(max_pixels))
    if correct is False:
        return image
    fixed = apply_corrector(image, header, force=bool(correct))
    return image if fixed is None else fixed


def inspect(data: Any, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> dict:
    """The header of a ``.qfz`` file as a dict, after checking it (both CRCs and the length) without decoding pixels.

    Args:
        data: the file's bytes, or a path to the file.

    Returns:
        dict with ``version``, ``width``, ``height``, ``channels``, ``mode`` ("bounded" | "levels"), ``bins``
            ("step": bounded mode's bins of ``2d + 1`` values | "uniform": the ``levels`` uniform bins), ``color``
        ("none" | "ycocg" | "ycbcr"), ``subsampling`` ("none" | "4:2:0"), ``predictor``, ``coder`` ("loco" |
        "qac" | "qac2" | "qac3" | "brotli"), ``corrector`` (hex id or None), ``levels`` and ``max_error`` (one per
        channel), ``strength_tile`` and ``strength_map`` (version 4: the tile side in pixels and a uint8 array of one
        code per tile, 0 none / 1 half / 2 all of the corrector's change; else None), ``header_bytes``,
        ``payload_bytes``, ``file_bytes`` and ``bpp``; ``bound`` and ``bound_plain``: the largest error per channel
        that :func:`decode` (by default) and ``decode(correct=False)`` can make, or None where none holds (YCbCr
        levels mode). In levels mode ``max_error`` is the mid-bin error, the bound without
        the corrector; the corrector keeps each value in its bin, so ``bound`` is the widest bin less one.

    Raises:
        FormatError: as :func:`decode`.

    Example:
        >>> qfast.inspect(qfast.encode(img, max_error=1))["max_error"]
        [1, 1, 1]
    """
    if isinstance(data, (str, os.PathLike)):
        data = Path(data).read_bytes()
    raw = _as_data(data)
    h = _core.inspect(raw, _max_pixels(max_pixels))
    h["file_bytes"] = len(raw)
    h["bpp"] = 8 * len(raw) / (h["width"] * h["height"])
    h["bound"], h["bound_plain"] = _bounds(h)
    return h


def _bounds(h: dict) -> tuple[Optional[list[int]], Optional[list[int]]]:
    """The largest error per channel of :func:`decode` (as it runs by default) and of ``decode(correct=False)``,
    from a header; None where no bound holds in RGB (YCbCr levels mode: the header's max error is in YCbCr).

    Bounded mode: ``max_error`` either way. Levels mode: the mid-bin error (the header's ``max_error``) without the
    corrector; with it (the file names one), each colour value stays inside its bin, so the bound is the widest bin
    less one (``ceil(256 / L) - 1``: 15 for L = 16); alpha is never corrected."""
    plain = [int(v) for v in h["max_error"]]
    if h["mode"] == "bounded":
        return plain, plain
    if h["color"] == "ycbcr":
        return None, None
    if h["corrector"] is None or h["channels"] < 3:
        return plain, plain
    corrected = [-(-256 // int(L)) - 1 for L in h["levels"][:3]] + plain[3:]
    return corrected, plain


def save(path: PathLike, image: Any, *, overwrite: bool = True, **options: Any) -> None:
    """Encodes ``image`` (see :func:`encode` for ``options``) and writes it to ``path`` atomically.

    Raises:
        FileExistsError: ``path`` exists and ``overwrite`` is False.

    Example:
        >>> qfast.save("photo.qfz", img, max_error=1)
    """
    from ._io import CliError, write_bytes

    data = encode(image, **options)
    try:
        write_bytes(path, data, force=overwrite)
    except CliError as e:
        raise FileExistsError(str(e)) if Path(path).exists() else OSError(str(e)) from None


def load(path: PathLike, *, correct: Optional[bool] = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Reads and decodes a ``.qfz`` file (see :func:`decode`).

    Example:
        >>> qfast.save("photo.qfz", img, max_error=1)
        >>> qfast.load("photo.qfz").shape
        (512, 768, 3)
    """
    return decode(Path(path).read_bytes(), correct=correct, max_pixels=max_pixels)
