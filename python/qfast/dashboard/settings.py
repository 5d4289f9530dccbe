"""The dashboard's computations: pure functions of an image and settings, calling only qfast's public API.

Nothing here imports Panel, so the CLI's ``qfast report`` and the unit tests use it without a browser or server.
Features that other parts of qfast add (palettes, the codec, the corrector) are detected once, in :data:`FEATURES`;
each function that needs one raises :class:`FeatureUnavailable` when it is absent, and the views say so.
"""

from __future__ import annotations

import base64
import io
import math
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import qfast

#: Which optional parts of qfast this build has, detected once at import.
FEATURES: dict[str, bool] = {
    "palette": hasattr(qfast, "quantize_colors"),
    "codec": hasattr(qfast, "encode") and hasattr(qfast, "decode"),
    "corrector": hasattr(qfast, "Corrector"),
}

#: Upload limits: file size in bytes and pixel count (the page says so when a file is over either).
MAX_UPLOAD_BYTES = 25 * 1024 * 1024
MAX_PIXELS = 40_000_000

METHODS = ("uniform", "lloyd-max", "mu-law", "palette")
RECONSTRUCTIONS = ("midpoint", "full-range")
DITHERS = ("none", "floyd-steinberg", "atkinson", "bayer4", "bayer8")
COLOR_SPACES = ("rgb", "oklab")
CORRECTORS = ("off", "fp32", "int8")
PALETTE_SIZES = (2, 4, 8, 16, 32, 64, 128, 256)
UPLOAD_TYPES = ("PNG", "JPEG", "WEBP", "TIFF")


class FeatureUnavailable(RuntimeError):
    """A view needs a part of qfast that this build does not have (palettes, the codec or the corrector)."""


class UploadError(ValueError):
    """An uploaded file was refused; the message says why, in words for the page."""


def require(feature: str) -> None:
    """Raises :class:`FeatureUnavailable` unless ``feature`` (a key of :data:`FEATURES`) is in this build."""
    if not FEATURES.get(feature, False):
        names = {"palette": "Colour palettes", "codec": "The .qfz codec", "corrector": "The corrector"}
        raise FeatureUnavailable(f"{names.get(feature, feature)}: not available in this build of qfast")


@dataclass(frozen=True)
class Settings:
    """What to do to the image: one hashable value, so results can be cached by it.

    Attributes:
        method: ``"uniform"``, ``"lloyd-max"``, ``"mu-law"`` or ``"palette"`` (k-means, needs the palette feature).
        bits: bits per channel, 1..8 (used when ``level_mode`` is ``"bits"``).
        levels: levels per channel, 2..256 (used when ``level_mode`` is ``"levels"``).
        level_mode: ``"bits"`` or ``"levels"``.
        reconstruction: uniform only: ``"midpoint"`` or ``"full-range"``.
        k: palette size, 2..256 (palette only).
        dither: palette only: one of :data:`DITHERS`.
        color_space: palette only: ``"rgb"`` or ``"oklab"``.
        corrector: ``"off"``, ``"fp32"`` or ``"int8"``: run the corrector on a uniform mid-bin reconstruction.
        seed: palette seed.
    """

    method: str = "uniform"
    bits: int = 4
    levels: int = 16
    level_mode: str = "bits"
    reconstruction: str = "midpoint"
    k: int = 16
    dither: str = "none"
    color_space: str = "rgb"
    corrector: str = "off"
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (
            ("method", METHODS),
            ("reconstruction", RECONSTRUCTIONS),
            ("dither", DITHERS),
            ("color_space", COLOR_SPACES),
            ("corrector", CORRECTORS),
            ("level_mode", ("bits", "levels")),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}: expected one of {list(allowed)}, got {getattr(self, name)!r}")
        if not 1 <= self.bits <= 8:
            raise ValueError(f"bits: expected 1..8, got {self.bits}")
        if not 2 <= self.levels <= 256:
            raise ValueError(f"levels: expected 2..256, got {self.levels}")
        if not 1 <= self.k <= 256:
            raise ValueError(f"k: expected 1..256, got {self.k}")

    def canonical(self) -> Settings:
        """The same settings with the fields that do not apply reset to their defaults, so equal work has one key
        (a hidden control that changes does not miss the cache)."""
        d = Settings()
        if self.method == "palette":
            return replace(
                self,
                bits=d.bits,
                levels=d.levels,
                level_mode=d.level_mode,
                reconstruction=d.reconstruction,
                corrector=d.corrector,
            )
        out = replace(self, k=d.k, dither=d.dither, color_space=d.color_space, seed=d.seed)
        if self.method != "uniform":
            out = replace(out, reconstruction=d.reconstruction, corrector=d.corrector)
        elif self.reconstruction != "midpoint" or not FEATURES["corrector"]:
            out = replace(out, corrector=d.corrector)
        return replace(out, levels=d.levels) if self.level_mode == "bits" else replace(out, bits=d.bits)

    @property
    def level_count(self) -> int:
        """Levels per channel of the scalar methods: ``2**bits`` or ``levels``."""
        return 1 << self.bits if self.level_mode == "bits" else self.levels

    @property
    def uses_corrector(self) -> bool:
        """Whether the corrector applies: asked for, available, and the result is a uniform mid-bin one."""
        return (
            self.corrector != "off"
            and FEATURES["corrector"]
            and self.method == "uniform"
            and self.reconstruction == "midpoint"
        )

    def label(self) -> str:
        """A short human label, e.g. ``"uniform, 4 bits (16 levels), midpoint"``."""
        if self.method == "palette":
            extra = "" if self.dither == "none" else f", {self.dither}"
            return f"k-means palette, K = {self.k} ({self.color_space}{extra})"
        L = self.level_count
        amount = (
            f"{self.bits} bit{'s' if self.bits > 1 else ''} ({L} levels)"
            if self.level_mode == "bits"
            else f"{L} levels"
        )
        text = f"{self.method}, {amount}"
        if self.method == "uniform":
            text += f", {self.reconstruction}"
        if self.uses_corrector:
            text += f" + corrector ({self.corrector})"
        return text


@dataclass
class Result:
    """One quantized image and what it costs.

    Attributes:
        settings: the settings that made it.
        image: the reconstruction, uint8 with the original's shape.
        packed_bytes: size of the indices packed at ceil(log2 L) bits each (plus the palette, for palettes).
        psnr: PSNR in dB against the original (``inf`` when identical).
        ssim: mean SSIM against the original (``nan`` for images smaller than 11 x 11).
        mse: mean squared error.
        max_error: the largest absolute difference of any channel of any pixel.
        ms: milliseconds the quantization (and corrector) took.
        palette: the (n, 3) palette, for palettes.
    """

    settings: Settings
    image: np.ndarray
    packed_bytes: int
    psnr: float
    ssim: float
    mse: float
    max_error: int
    ms: float
    palette: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def bpp(self, npx: int) -> float:
        """Bits per pixel of the packed indices for an image of ``npx`` pixels."""
        return 8.0 * self.packed_bytes / max(1, npx)


# ---------------------------------------------------------------------------------------------------------------
# Input


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
    if filename.lower().endswith(".qfz"):
        return _load_qfz(filename, bytes(data), max_pixels), ""
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.format not in UPLOAD_TYPES:
                raise UploadError(f"{filename}: {im.format} files are not supported (use PNG, JPEG, WebP or TIFF)")
            w, h = im.size
            if w * h > max_pixels:
                raise UploadError(
                    f"{filename}: {w} x {h} is {w * h / 1e6:.0f} megapixels, over the {max_pixels / 1e6:.0f} MP limit"
                )
            im.load()
            return _to_array(im)
    except UploadError:
        raise
    except Image.DecompressionBombError as e:
        raise UploadError(f"{filename}: too many pixels, over the {max_pixels / 1e6:.0f} MP limit ({e})") from e
    except UnidentifiedImageError:
        raise UploadError(f"{filename}: not an image qfast can read (use PNG, JPEG, WebP, TIFF or .qfz)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise UploadError(f"{filename}: damaged or truncated image ({e})") from e


def _to_array(im: Any) -> tuple[np.ndarray, str]:
    from PIL import Image

    note = ""
    if im.mode in ("L", "I;16", "I", "F", "1"):
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


# ---------------------------------------------------------------------------------------------------------------
# Quantization


def _bits_for(levels: int) -> int:
    return max(1, math.ceil(math.log2(levels)))


def _packed(indices: np.ndarray, levels: int) -> int:
    return int(qfast.pack_bits(np.ascontiguousarray(indices), _bits_for(levels)).size)


_CORRECTORS: dict[str, Any] = {}


def corrector(model: str) -> Any:
    """The corrector for ``model`` (``"fp32"`` -> the default model, ``"int8"``), created once and reused."""
    require("corrector")
    name = "int8" if model == "int8" else "default"
    if name not in _CORRECTORS:
        _CORRECTORS[name] = qfast.Corrector(model=name)
    return _CORRECTORS[name]


def quantize(img: np.ndarray, s: Settings, *, with_ssim: bool = True) -> Result:
    """Quantizes ``img`` as ``s`` says and measures the result.

    Args:
        img: uint8 (H, W) or (H, W, 3).
        s: the settings.
        with_ssim: measure SSIM too (the slowest metric; ``nan`` when off).

    Returns:
        A :class:`Result`.

    Raises:
        FeatureUnavailable: a palette or the corrector is asked for and this build lacks it.
    """
    t = time.perf_counter()
    palette = None
    extra: dict[str, Any] = {}
    if s.method == "palette":
        require("palette")
        r = qfast.quantize_colors(img, s.k, dither=s.dither, method="kmeans", seed=s.seed, color_space=s.color_space)
        out = np.asarray(r.image())
        if img.ndim == 2 and out.ndim == 3:
            out = out[:, :, 0]
        palette = np.asarray(r.palette)
        n = max(2, len(palette))
        packed = _packed(np.asarray(r.indices), n) + palette.size
        extra["pil"] = r.to_pil
    else:
        L = s.level_count
        if s.method == "uniform":
            idx = qfast.uniform_indices(img, L)
            out = qfast.dequantize_uniform(idx, L, reconstruction=s.reconstruction)
        elif s.method == "lloyd-max":
            q = qfast.quantize_lloyd_max(img, L)
            idx, out = q.indices, q.image()
        else:
            q = qfast.quantize_mu_law(img, L)
            idx, out = q.indices, q.image()
        packed = _packed(idx, L)
        if s.uses_corrector:
            rgb = img.ndim == 3 and img.shape[2] == 3
            if rgb:
                out = np.asarray(corrector(s.corrector).correct(out, L))
            else:
                extra["note"] = "the corrector works on RGB images only"
    ms = 1000 * (time.perf_counter() - t)
    return _measure(img, out, s, packed, ms, palette, extra, with_ssim)


def _measure(
    img: np.ndarray,
    out: np.ndarray,
    s: Settings,
    packed: int,
    ms: float,
    palette: np.ndarray | None,
    extra: dict[str, Any],
    with_ssim: bool,
) -> Result:
    err = float(qfast.mse(img, out))
    p = math.inf if err == 0 else 10 * math.log10(255.0**2 / err)
    ss = ssim_or_nan(img, out) if with_ssim else math.nan
    mx = int((np.maximum(img, out) - np.minimum(img, out)).max())
    return Result(s, out, packed, p, ss, err, mx, ms, palette, extra)


def ssim_or_nan(a: np.ndarray, b: np.ndarray) -> float:
    """``qfast.ssim(a, b)``, or ``nan`` for images under 11 x 11 pixels (too small for its window)."""
    return math.nan if a.shape[0] < 11 or a.shape[1] < 11 else float(qfast.ssim(a, b))


def ladder_settings(s: Settings) -> list[Settings]:
    """The rungs of the ladder for ``s``'s method: 8, 4, 2, 1 bits, or K = 256, 64, 16, 4, 2 (canonical settings)."""
    if s.method == "palette":
        return [replace(s, k=k).canonical() for k in (256, 64, 16, 4, 2)]
    # The ladder shows quantization alone: the corrector (slow, and made for 2..64 levels) stays off here.
    return [replace(s, level_mode="bits", bits=b, corrector="off").canonical() for b in (8, 4, 2, 1)]


# ---------------------------------------------------------------------------------------------------------------
# Pictures: heat map, thumbnails, scatter


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


def heat_png(levels: np.ndarray) -> bytes:
    """A heat map from :func:`error_levels` as an indexed PNG (one byte per pixel, :data:`HEAT_LUT` as palette)."""
    im = to_pil(levels).convert("P")
    im.putpalette(HEAT_LUT.reshape(-1).tolist())
    buf = io.BytesIO()
    im.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


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


# ---------------------------------------------------------------------------------------------------------------
# Encodings


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


# ---------------------------------------------------------------------------------------------------------------
# Rate-distortion, codec, corrector


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


def rate_distortion(img: np.ndarray) -> dict[str, list[tuple[float, float, str]]]:
    """Rate-distortion points for ``img``: qfast's modes next to JPEG and WebP (Pillow).

    Returns:
        ``{curve name: [(bits per pixel, PSNR dB, point label), ...]}``, points in rising rate. qfast's scalar
        quantizers are counted at their packed size (ceil(log2 L) bits per channel, no entropy coding), palettes at
        log2 K bits per pixel plus the palette, and the codec (when present) at its file size.
    """
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
        pts = []
        for d in (16, 8, 4, 2, 1):
            try:
                data = qfast.encode(img, max_error=d)
                back = np.asarray(qfast.decode(data, correct=False))
                pts.append((8.0 * len(data) / npx, _psnr(img, back), f"d={d}"))
            except (ValueError, TypeError):
                continue
        if pts:
            curves["qfast codec (bounded)"] = pts
    for fmt, name in (("JPEG", "JPEG"), ("WEBP", "WebP")):
        pts = []
        for q in (10, 30, 50, 75, 90):
            n, back = _pillow_roundtrip(img, fmt, q)
            pts.append((8.0 * n / npx, _psnr(img, back), f"q={q}"))
        curves[name] = sorted(pts)
    return curves


def codec_roundtrip(img: np.ndarray, *, max_error: int | None = None, levels: int | None = None) -> dict[str, Any]:
    """Encodes ``img`` with the codec and decodes it with and without the corrector.

    Args:
        img: uint8 (H, W) or (H, W, 3).
        max_error: bounded mode: every channel within this many grey levels (0 is lossless).
        levels: levels mode: this many levels per channel (instead of ``max_error``).

    Returns:
        A dict: ``data`` (the file's bytes), ``bytes``, ``bpp``, ``encode_ms``, ``header`` (from ``qfast.inspect``),
        and for ``plain`` and ``corrected`` (``None`` when the corrector is absent): ``image``, ``psnr``,
        ``max_error``, ``ms``.

    Raises:
        FeatureUnavailable: no codec in this build.
    """
    require("codec")
    npx = img.shape[0] * img.shape[1]
    t = time.perf_counter()
    # Pass only the mode that is set: the codec refuses both or neither.
    mode = {"max_error": max_error} if max_error is not None else {"levels": levels}
    data = qfast.encode(img, **mode)
    enc_ms = 1000 * (time.perf_counter() - t)
    out: dict[str, Any] = {
        "data": data,
        "bytes": len(data),
        "bpp": 8.0 * len(data) / npx,
        "encode_ms": enc_ms,
        "header": qfast.inspect(data) if hasattr(qfast, "inspect") else {},
    }
    for key, correct in (("plain", False), ("corrected", True)):
        if correct and not FEATURES["corrector"]:
            out[key] = None
            continue
        t = time.perf_counter()
        back = np.asarray(qfast.decode(data, correct=correct))
        ms = 1000 * (time.perf_counter() - t)
        mx = int(np.abs(img.astype(np.int16) - back.astype(np.int16)).max())
        out[key] = {"image": back, "psnr": _psnr(img, back), "max_error": mx, "ms": ms}
    return out


def _model_size(c: Any) -> int | None:
    import os

    for attr in ("path", "model_path", "file"):
        p = getattr(c, attr, None)
        if p and os.path.isfile(str(p)):
            return os.path.getsize(str(p))
    return None


def corrector_comparison(img: np.ndarray, levels: int) -> dict[str, Any]:
    """The corrector in fp32 and int8 on the uniform mid-bin reconstruction of ``img`` at ``levels`` per channel.

    Returns:
        ``{"midbin": {"image", "psnr", "ssim"}, "fp32": {...}, "int8": {...}}``; the model entries add ``ms`` (the
        correction's wall time) and ``size`` (model file bytes, ``None`` if the corrector does not say).

    Raises:
        FeatureUnavailable: no corrector in this build. ValueError: not an RGB image.
    """
    require("corrector")
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"image: the corrector needs an RGB (H, W, 3) image, got shape {img.shape}")
    mid = qfast.quantize_uniform(img, levels)
    small = img.shape[0] < 11 or img.shape[1] < 11
    out: dict[str, Any] = {
        "midbin": {"image": mid, "psnr": _psnr(img, mid), "ssim": math.nan if small else float(qfast.ssim(img, mid))}
    }
    for model in ("fp32", "int8"):
        c = corrector(model)
        t = time.perf_counter()
        fixed = np.asarray(c.correct(mid, levels))
        ms = 1000 * (time.perf_counter() - t)
        out[model] = {
            "image": fixed,
            "psnr": _psnr(img, fixed),
            "ms": ms,
            "size": _model_size(c),
            "ssim": math.nan if small else float(qfast.ssim(img, fixed)),
        }
    return out
