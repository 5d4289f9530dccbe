"""Shared test setup: hypothesis profiles and the photographs the tests use."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import qfast

# "ci" is thorough but bounded; QFAST_HYPOTHESIS_PROFILE=dev runs fewer examples while iterating.
settings.register_profile("ci", max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=25, deadline=None)
settings.load_profile(os.environ.get("QFAST_HYPOTHESIS_PROFILE", "ci"))

#: The photographs tests use: the ones bundled in the wheel (three Kodak images, qfast/samples/SOURCES.md), so the
#: tests stand on their own wherever the checkout is; only benchmarks and onnx/evaluate.py read ../shared/data.
PHOTOS = tuple(qfast.samples.names())

#: Small files committed for the tests (tests/data/SOURCES.md).
DATA = Path(__file__).resolve().parent / "data"


def photo_crop(name: str, y: int, x: int, size: int = 192) -> np.ndarray:
    """A ``size`` x ``size`` crop at (y, x) of the bundled photo ``name``, as a writable uint8 array."""
    return np.array(qfast.samples.load(name)[y : y + size, x : x + size])


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A real photograph (the bundled parrots, Kodak 23), uint8 (512, 768, 3)."""
    return np.array(qfast.samples.load("parrots"))
