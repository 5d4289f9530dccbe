"""Plain-NumPy references the palette tests share (a module of its own, as tests/batch/batch_images.py)."""

from __future__ import annotations

import numpy as np


def oklab_reference(rgb: np.ndarray) -> np.ndarray:
    """Oklab (times 255) of sRGB bytes, from Ottosson's published matrices, in float64."""
    v = rgb.astype(np.float64) / 255
    lin = np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)
    m1 = np.array(
        [
            [0.4122214708, 0.5363325363, 0.0514459929],
            [0.2119034982, 0.6806995451, 0.1073969566],
            [0.0883024619, 0.2817188376, 0.6299787005],
        ]
    )
    m2 = np.array(
        [
            [0.2104542553, 0.7936177850, -0.0040720468],
            [1.9779984951, -2.4285922050, 0.4505937099],
            [0.0259040371, 0.7827717662, -0.8086757660],
        ]
    )
    return 255 * (np.cbrt(lin @ m1.T) @ m2.T)
