"""What the dashboard computes with: the optional features, the limits and choices, :class:`Settings`, :class:`Result`.

The dashboard's computations (:mod:`.upload`, :mod:`.quantization`, :mod:`.pictures`, :mod:`.exports`,
:mod:`.rate_distortion`, :mod:`.codec`) are pure functions of an image and settings, calling only qfast's public API.
Nothing in them imports Panel, so the CLI's ``qfast report`` and the unit tests use them without a browser or server.
Features that other parts of qfast add (palettes, the codec, the corrector) are detected once, in :data:`FEATURES`;
each function that needs one raises :class:`FeatureUnavailable` when it is absent, and the views say so.
"""

from __future__ import annotations

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
