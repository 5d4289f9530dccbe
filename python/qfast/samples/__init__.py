"""Bundled sample photos (see SOURCES.md beside this file for their source and licence)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by load(): listing the samples (the CLI's help) needs no NumPy
    import numpy as np

_DIR = Path(__file__).resolve().parent


def names() -> list[str]:
    """The names of the bundled samples, e.g. ``["parrots"]``."""
    return sorted(p.stem for p in _DIR.glob("*.png"))


def path(name: str = "parrots") -> Path:
    """The file of the bundled sample ``name``."""
    p = _DIR / f"{name}.png"
    if name not in names():
        raise ValueError(f"name: expected one of {names()}, got {name!r}")
    return p


def load(name: str = "parrots") -> np.ndarray:
    """The bundled sample ``name`` as a uint8 (H, W, 3) array."""
    import numpy as np
    from PIL import Image

    with Image.open(path(name)) as im:
        return np.asarray(im.convert("RGB"))
