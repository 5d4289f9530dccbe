"""The single-file commands as functions: read one file, do one thing, write one file atomically, say what it cost.

``qfast quantize``, ``palette``, ``encode`` and ``decode`` (:mod:`qfast.cli`) and every file of ``qfast batch``
(:mod:`qfast.batch`, :mod:`qfast.dask`) run these, so there is one way to do each thing. Each takes the input and
output paths, ``force`` (overwrite) and the command's options as keywords (named as the CLI's options, with
underscores), and returns an :class:`OpInfo`. Errors are :class:`~qfast._io.CliError` (a file that cannot be read
or written) or TypeError/ValueError (an option out of range), raised before the output exists: outputs are written
through :func:`qfast._io.write_bytes` (a temporary file in the same folder, then a rename), so no partial file ever
carries the output's name.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

import numpy as np

from ._io import (
    PALETTE_PNG_LEVEL,
    QUANTIZED_PNG_LEVEL,
    CliError,
    PathLike,
    check_writable,
    encode_image,
    png_args,
    read_image,
    write_bytes,
)

#: The commands, and the extension of their outputs unless a format is given.
DEFAULT_SUFFIX = {"quantize": ".png", "palette": ".png", "encode": ".qfz", "decode": ".png"}
#: Output formats a command may be asked for (``--format``): the image writers Pillow has, or .qfz.
FORMATS = {
    "quantize": ("png", "webp", "tif", "tiff", "bmp", "ppm"),
    "palette": ("png", "gif"),
    "encode": ("qfz",),
    "decode": ("png", "webp", "tif", "tiff", "bmp", "ppm"),
}


@dataclass
class OpInfo:
    """What one file's command produced: the output's size, pixel count and, where they apply, its quality against
    the input (None where not: decode has no reference, a sweep has several frames)."""

    bytes_in: int
    bytes_out: int
    pixels: int
    psnr: Optional[float] = None
    ssim: Optional[float] = None
    #: False when nothing was written (``skip_if_larger``: ``bytes_out`` is then the size the output would have had).
    written: bool = True


def _colour_part(img: np.ndarray) -> np.ndarray:
    """The colour channels (alpha dropped) of an image, for metrics."""
    if img.ndim == 3 and img.shape[2] in (2, 4):
        return np.ascontiguousarray(img[..., :-1])
    return img


def psnr16(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR on the 16-bit scale of two images of 16 or 8 bits (an 8-bit one scaled by 257), for 16-bit inputs
    and their 8-bit outputs."""
    scale = [257.0 if x.dtype == np.uint8 else 1.0 for x in (a, b)]
    mse = float(np.mean((a.astype(np.float64) * scale[0] - b.astype(np.float64) * scale[1]) ** 2))
    return float("inf") if mse == 0 else 10 * float(np.log10(65535.0**2 / mse))


def _quality(src: np.ndarray, out: np.ndarray, metrics: bool) -> tuple[Optional[float], Optional[float]]:
    if not metrics:
        return None, None
    from .metrics import psnr, ssim

    a, b = _colour_part(src), _colour_part(out)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        return psnr16(a, b), None
    if a.ndim == 3 and a.shape[2] == 1:
        a, b = a[..., 0], b.reshape(a.shape[:2])
    # SSIM's 11 x 11 window needs an image at least that large.
    s = float(ssim(a, b)) if min(a.shape[:2]) >= 11 else None
    return float(psnr(a, b)), s


def _write(dst: Path, data: bytes, force: bool) -> int:
    write_bytes(dst, data, force)
    return len(data)


def quantize_image(
    img: np.ndarray,
    dst: PathLike,
    *,
    levels: Any = None,
    bits: Any = None,
    method: str = "uniform",
    reconstruction: str = "midpoint",
    dither: str = "none",
    depth: Optional[int] = None,
    correct: bool = False,
) -> tuple[bytes, np.ndarray]:
    """The per-image work of ``qfast quantize`` and ``qfast batch quantize``: ``img`` quantized to a few levels per
    channel (``dither``: uniform only, as :func:`qfast.quantize_uniform`), a 16-bit greyscale image written in
    ``depth`` bits (default 16; an 8-bit image gives 8 whatever ``depth`` says, so that a batch may mix them), and
    with ``correct`` the QANN corrector run on the result (uniform, midpoint, no
    dither, 8 bits). Returns the output encoded in the format ``dst`` names (PNG at
    :data:`~qfast._io.QUANTIZED_PNG_LEVEL`, or Pillow's default for a corrected image, whose values are many again)
    and the image itself. Nothing is written here."""
    from . import quantize

    if dither != "none" and method != "uniform":
        raise ValueError(f"dither: only with method 'uniform' (got {method!r})")
    if correct and (method != "uniform" or reconstruction != "midpoint" or dither != "none"):
        raise ValueError("correct: only with method 'uniform', midpoint reconstruction and no dither")
    if depth not in (None, 8, 16):
        raise ValueError(f"depth: expected 8 or 16, got {depth!r}")
    if correct and img.dtype != np.uint8:
        raise ValueError("correct: the corrector works on 8-bit images")
    kw: dict[str, Any] = {"levels": levels, "bits": bits}
    if img.dtype == np.uint16:
        kw["depth"] = depth or 16
    if method == "uniform":
        out = quantize.quantize_uniform(img, reconstruction=reconstruction, dither=dither, **kw)
    elif method in ("lloyd-max", "mu-law"):
        d = kw.pop("depth", None)
        out = (quantize.quantize_lloyd_max if method == "lloyd-max" else quantize.quantize_mu_law)(img, **kw).image(
            depth=d
        )
    else:
        raise ValueError(f"method: expected 'uniform', 'lloyd-max' or 'mu-law', got {method!r}")
    if correct:
        lv = levels if levels is not None else [1 << b for b in bits] if isinstance(bits, list) else 1 << bits
        out = _default_corrector().correct(out, lv)
    level = {} if correct else png_args(dst, QUANTIZED_PNG_LEVEL)
    return encode_image(out, dst, **level), out


@functools.lru_cache(maxsize=1)
def _default_corrector() -> Any:
    """The default ``qfast.Corrector``, made once per process (a session costs more than quantizing a photo)."""
    from .corrector import Corrector

    return Corrector()


def quantize_file(
    src: PathLike,
    dst: PathLike,
    *,
    levels: Any = None,
    bits: Any = None,
    method: str = "uniform",
    reconstruction: str = "midpoint",
    dither: str = "none",
    depth: Optional[int] = None,
    correct: bool = False,
    force: bool = False,
    metrics: bool = True,
) -> OpInfo:
    """``qfast batch quantize``'s file: :func:`quantize_image` of an image file, written to ``dst``."""
    dst = check_writable(dst, force)
    img = read_image(src, allow16=dither == "none")
    kw = {"method": method, "reconstruction": reconstruction, "dither": dither, "depth": depth, "correct": correct}
    data, out = quantize_image(img, dst, levels=levels, bits=bits, **kw)
    n = _write(dst, data, force)
    p, s = _quality(img, out, metrics)
    return OpInfo(Path(src).stat().st_size, n, img.shape[0] * img.shape[1], p, s)


def _pil_format(dst: PathLike) -> str:
    """How :meth:`ColorQuantization.to_pil` should shape transparency for ``dst``: ``"gif"`` (one transparent index)
    for a GIF, else ``"png"`` (the RGBA palette whole)."""
    return "gif" if str(dst) != "-" and Path(dst).suffix.lower() == ".gif" else "png"


@dataclass
class PaletteImage:
    """What :func:`palette_image` made: the encoded output, the quantization it holds (None for a sweep, whose
    frames have several), and whether a GIF lost partial transparency (its palette entries with alpha below 128
    became transparent, the others opaque)."""

    data: bytes
    quantization: Optional[Any]
    gif_lost_alpha: bool


def palette_image(
    img: np.ndarray,
    dst: PathLike,
    *,
    colors: Optional[int] = None,
    sweep: Any = None,
    palette: Any = None,
    dither: str = "none",
    color_space: str = "rgb",
    method: str = "kmeans",
    seed: int = 0,
    duration: int = 800,
    alpha: str = "palette",
    quality: Any = None,
    posterize: int = 0,
) -> PaletteImage:
    """The per-image work of ``qfast palette`` and ``qfast batch palette``: ``img`` reduced to ``colors`` colours
    (``quality``: the fewest, up to ``colors`` or 256, that reach it), or mapped onto a given ``palette`` ((n, 3) RGB
    or (n, 4) RGBA), or with ``sweep`` (sizes) an animation, encoded in the format ``dst`` names. Indexed PNG and
    GIF are written at :data:`~qfast._io.PALETTE_PNG_LEVEL`; a result of more than 256 colours (for .tif, .bmp,
    .webp) is written in full colour. Nothing is written here."""
    from . import palette as pal

    if palette is not None and (quality is not None or posterize):
        raise ValueError("quality: not with a given palette (nor posterize): the palette is given")
    if sweep is not None and quality is not None:
        raise ValueError("quality: not with sweep (the sweep gives the sizes)")
    fmt = _pil_format(dst)
    if sweep is None:
        if palette is not None:
            p = np.ascontiguousarray(np.asarray(palette, dtype=np.uint8))
            q = pal.ColorQuantization(p, pal.remap(img, p, dither=dither, color_space=color_space), img)
        else:
            q = pal.quantize_colors(
                img,
                colors,
                dither=dither,
                color_space=color_space,
                method=method,
                seed=seed,
                alpha=alpha,
                quality=quality,
                posterize=posterize,
            )
        # More than 256 colours do not fit an indexed image: the other formats get the colours themselves.
        im = q.to_pil(fmt) if len(q.palette) <= 256 else q.image()
        data = encode_image(im, dst, **png_args(dst, PALETTE_PNG_LEVEL))
        return PaletteImage(data, q, fmt == "gif" and _partial_alpha(q.palette))
    ks = [sweep] if isinstance(sweep, int) else list(sweep)
    kw = {"dither": dither, "color_space": color_space, "method": method, "seed": seed, "alpha": alpha}
    qs = [pal.quantize_colors(img, k, posterize=posterize, **kw) for k in ks]
    frames = [q.to_pil(fmt) for q in qs]
    # Each frame keeps its own palette; every frame is stored whole (no frame differencing across palettes).
    data = encode_image(
        frames[0], dst, save_all=True, append_images=frames[1:], duration=max(duration, 10), loop=0, optimize=False
    )
    return PaletteImage(data, None, fmt == "gif" and any(_partial_alpha(q.palette) for q in qs))


def _partial_alpha(palette: np.ndarray) -> bool:
    """Whether an RGBA palette has entries neither transparent nor opaque."""
    return palette.shape[1] == 4 and bool(((palette[:, 3] != 0) & (palette[:, 3] != 255)).any())


def palette_file(
    src: PathLike,
    dst: PathLike,
    *,
    colors: Optional[int] = None,
    sweep: Any = None,
    palette: Any = None,
    dither: str = "none",
    color_space: str = "rgb",
    method: str = "kmeans",
    seed: int = 0,
    duration: int = 800,
    alpha: str = "palette",
    quality: Any = None,
    posterize: int = 0,
    skip_if_larger: bool = False,
    force: bool = False,
    metrics: bool = True,
) -> OpInfo:
    """``qfast batch palette``'s file: :func:`palette_image` of an image file, written to an indexed PNG or GIF.
    ``quality`` alone means up to 256 colours. ``skip_if_larger``: write nothing when the output would be larger
    than the input file (the result says ``written=False``)."""
    if quality is not None and colors is None and sweep is None and palette is None:
        colors = 256  # --quality alone: up to 256 colours, as the single-file command
    given = [name for name, v in (("colors", colors), ("sweep", sweep), ("palette", palette)) if v is not None]
    if len(given) != 1:
        raise TypeError(f"colors: give exactly one of colors, sweep or palette, got {given or 'none'}")
    sizes = [colors] if colors is not None else ([] if sweep is None else [sweep] if isinstance(sweep, int) else sweep)
    big = [k for k in sizes if isinstance(k, int) and not isinstance(k, bool) and k > 256]
    if big:  # the outputs are indexed PNG or GIF: at most 256 colours, whatever a palette could hold
        raise ValueError(f"k: expected 1..256 for an indexed PNG or GIF, got {big[0]}")
    dst = check_writable(dst, force)
    img = read_image(src)
    kw = {"dither": dither, "color_space": color_space, "method": method, "seed": seed, "duration": duration}
    made = palette_image(
        img, dst, colors=colors, sweep=sweep, palette=palette, alpha=alpha, quality=quality, posterize=posterize, **kw
    )
    pixels = img.shape[0] * img.shape[1]
    size_in = Path(src).stat().st_size
    if skip_if_larger and len(made.data) > size_in:
        return OpInfo(size_in, len(made.data), pixels, written=False)
    n = _write(dst, made.data, force)
    q = made.quantization
    ps, ss = _quality(img, q.image(), True) if metrics and q is not None else (None, None)
    return OpInfo(size_in, n, pixels, ps, ss)


def encode_file(
    src: PathLike,
    dst: PathLike,
    *,
    max_error: Any = None,
    levels: Any = None,
    target_bpp: Optional[float] = None,
    color: str = "auto",
    subsample: bool = False,
    effort: int = 2,
    no_corrector: bool = False,
    no_strength_map: bool = False,
    force: bool = False,
    metrics: bool = True,
) -> OpInfo:
    """``qfast encode``: compresses an image file into a ``.qfz`` file. The metrics are those of the decoded file
    without the corrector (what the bound guarantees; the corrector only moves values inside their bins)."""
    from . import codec

    dst = check_writable(dst, force)
    img = read_image(src)
    data = codec.encode(
        img,
        max_error=max_error,
        levels=levels,
        target_bpp=target_bpp,
        color=color,
        subsample=subsample,
        effort=effort,
        corrector=None if no_corrector else "auto",
        strength_map=not no_strength_map,
    )
    n = _write(dst, data, force)
    ps, ss = _quality(img, codec.decode(data, correct=False), metrics) if metrics else (None, None)
    return OpInfo(Path(src).stat().st_size, n, img.shape[0] * img.shape[1], ps, ss)


def read_qfz(path: PathLike) -> bytes:
    """The bytes of a ``.qfz`` file; CliError when it is missing."""
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{p}: no such file")
    try:
        return p.read_bytes()
    except OSError as e:
        raise CliError(f"{p}: cannot read ({e})") from e


def decode_file(
    src: PathLike, dst: PathLike, *, no_correct: bool = False, force: bool = False, metrics: bool = True
) -> OpInfo:
    """``qfast decode``: decompresses a ``.qfz`` file into an image file (no metrics: there is no reference)."""
    from . import codec

    dst = check_writable(dst, force)
    data = read_qfz(src)
    try:
        img = codec.decode(data, correct=False if no_correct else None)
    except codec.FormatError as e:
        raise CliError(f"{src}: {e}") from e
    n = _write(dst, encode_image(img, dst), force)
    return OpInfo(len(data), n, img.shape[0] * img.shape[1])


#: The function of each command.
OPS: dict[str, Callable[..., OpInfo]] = {
    "quantize": quantize_file,
    "palette": palette_file,
    "encode": encode_file,
    "decode": decode_file,
}
