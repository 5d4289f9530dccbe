"""The qfast dashboard: a Panel app that shows what quantization does (``qfast serve``), and an offline HTML report.

The computations (:mod:`~qfast.dashboard.settings`, :mod:`~qfast.dashboard.upload`,
:mod:`~qfast.dashboard.quantization`, :mod:`~qfast.dashboard.pictures`, :mod:`~qfast.dashboard.exports`,
:mod:`~qfast.dashboard.rate_distortion`, :mod:`~qfast.dashboard.codec`),
:mod:`~qfast.dashboard.views`, :mod:`~qfast.dashboard.charts` and :mod:`~qfast.dashboard.report` need only NumPy and
Pillow; :class:`Dashboard` (:mod:`~qfast.dashboard.app`: the state of :mod:`~qfast.dashboard.state` with the page of
:mod:`~qfast.dashboard.layout`) and :func:`serve` need Panel (``pip install 'panel>=1.5'``, or
``pip install '.[dashboard]'`` in a checkout).
"""

from __future__ import annotations

from typing import Any

from .report import build_report
from .settings import FEATURES, Settings

__all__ = ["FEATURES", "Dashboard", "Settings", "build_report", "create_app", "serve"]


def __getattr__(name: str) -> Any:
    # Panel is an optional extra: import it only when the app itself is asked for.
    if name in ("Dashboard", "create_app", "serve"):
        from . import app

        return getattr(app, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
