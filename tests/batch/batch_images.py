"""Small image folders for the batch tests, made from the bundled samples (no shared data needed). A module of its
own, not a conftest.py: a second conftest module would shadow the top-level one that other tests import from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import qfast


def crops() -> dict[str, np.ndarray]:
    """Eight small, different images: RGB crops of the samples, one grey, one RGBA."""
    out = {}
    for i, name in enumerate(qfast.samples.names()):
        img = qfast.samples.load(name)
        out[f"{name}.png"] = np.ascontiguousarray(img[40 * i : 40 * i + 64, 100:196])
        out[f"deep/{name}-b.png"] = np.ascontiguousarray(img[300:348, 200 + 50 * i : 280 + 50 * i])
    grey = qfast.samples.load("plane")[100:160, 100:180].mean(axis=2).astype(np.uint8)
    out["grey.png"] = grey
    rgba = np.dstack([qfast.samples.load("hats")[:50, :70], np.full((50, 70), 200, np.uint8)])
    out["deep/er/alpha.png"] = rgba
    return out


def write_folder(root: Path, images: dict[str, np.ndarray]) -> Path:
    for rel, img in images.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img).save(p)
    return root
