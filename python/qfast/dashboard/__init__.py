"""The qfast dashboard: a Panel app that shows what quantization does (``qfast serve``), and an offline HTML report.

:mod:`~qfast.dashboard.compute`, :mod:`~qfast.dashboard.views` and :mod:`~qfast.dashboard.report` need only NumPy
and Pillow; :class:`Dashboard` and :func:`serve` need Panel (``pip install qfast[dashboard]``).
"""

from __future__ import annotations

from typing import Any

from .compute import FEATURES, Settings
from .report import build_report

__all__ = ["FEATURES", "Dashboard", "Settings", "build_report", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Panel is an optional extra: import it only when the app itself is asked for.
    if name in ("Dashboard", "create_app", "serve"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
