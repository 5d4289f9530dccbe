"""The synthetic training pictures and photo augmentations (plain NumPy and Pillow: no PyTorch needed)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ONNX_DIR = Path(__file__).resolve().parents[2] / "onnx"


@pytest.fixture(scope="module")
def synthetic():
    sys.path.insert(0, str(ONNX_DIR))
    try:
        import synthetic

        yield synthetic
    finally:
        sys.path.remove(str(ONNX_DIR))


def test_pictures_are_seeded_uint8_rgb_of_the_size_asked(synthetic) -> None:
    a = synthetic.pictures(12, seed=5, size=96)
    b = synthetic.pictures(12, seed=5, size=96)
    c = synthetic.pictures(12, seed=6, size=96)
    assert all(p.shape == (96, 96, 3) and p.dtype == np.uint8 and p.flags.c_contiguous for p in a)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_pictures_have_what_photos_lack(synthetic) -> None:
    """Over a pool: flat areas (a large share of pixels equal to their right neighbour), hard edges (steps of
    more than half the range between neighbours), grey pictures, and variety (no two pictures alike)."""
    pool = synthetic.pictures(60, seed=1, size=128)
    flat = [float(np.mean(np.all(p[:, 1:] == p[:, :-1], axis=2))) for p in pool]
    steps = [int(np.abs(np.diff(p.astype(np.int16), axis=1)).max()) for p in pool]
    grey = [bool(np.all(p[..., 0] == p[..., 1]) and np.all(p[..., 1] == p[..., 2])) for p in pool]
    assert np.median(flat) > 0.3
    assert sum(s > 128 for s in steps) >= 20
    assert 3 <= sum(grey) <= 30
    means = {tuple(np.round(p.reshape(-1, 3).mean(0)).astype(int)) for p in pool}
    assert len(means) == len(pool)


def test_augment_keeps_the_type_and_the_minimum_side(synthetic) -> None:
    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    changed = 0
    for _ in range(60):
        out = synthetic.augment(rng, photo, 128)
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
        assert min(out.shape[:2]) >= 128 and out.shape[0] <= 200 and out.shape[1] <= 300
        # a reduction keeps the aspect ratio (within a pixel's rounding)
        assert abs(out.shape[1] / out.shape[0] - 1.5) < 0.02
        changed += not np.array_equal(out, photo)
    assert 15 <= changed <= 50  # about half the copies are varied, the rest returned as they are
