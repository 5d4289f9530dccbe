"""Shared test setup: hypothesis profiles, the shared data folders and small image helpers."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# "ci" is thorough but bounded; QFAST_HYPOTHESIS_PROFILE=dev runs fewer examples while iterating.
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("QFAST_HYPOTHESIS_PROFILE", "ci"))

#: The shared data folder beside the checkout (Kodak for evaluation, train/ for training).
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
KODAK = SHARED_DATA / "kodak"


def kodak(n: int) -> np.ndarray:
    """Kodak image ``n`` (1..24) as uint8 (512, 768, 3) or (768, 512, 3)."""
    from PIL import Image

    path = KODAK / f"kodim{n:02d}.png"
    if not path.exists():
        pytest.fail(f"missing evaluation image {path}: the shared data folder must sit beside the checkout")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photograph (Kodak 23), uint8 (512, 768, 3)."""
    return kodak(23)
