"""The Panel dashboard: :class:`Dashboard` (the state of :mod:`~qfast.dashboard.state` with the page of
:mod:`~qfast.dashboard.layout`), :func:`create_app` (one browser page) and :func:`serve`."""

from __future__ import annotations

from typing import Any

import panel as pn

from .layout import Page
from .state import State


class Dashboard(Page, State):
    """What quantization does to an image: the state of the dashboard, and its page (``__panel__``).

    Set the parameters (as the page's controls do) and read :attr:`result`; everything is computed through qfast's
    public API. ``background=True`` (the server) computes in a worker thread; the default computes at once, which
    is what tests and notebooks want.

    Example:
        >>> d = Dashboard()
        >>> d.bits = 2
        >>> round(d.result.psnr, 1)
        22.7
    """


def create_app() -> pn.viewable.Viewable:
    """One browser page: a fresh :class:`Dashboard` (its own state and uploads) that computes in the background."""
    d = Dashboard(background=True)
    if pn.state.curdoc is not None:
        pn.state.on_session_destroyed(lambda _context: d.close())
    return d.__panel__()


def serve(
    port: int = 5006, *, show: bool = False, address: str = "127.0.0.1", threaded: bool = False, **kwargs: Any
) -> Any:
    """Serves the dashboard with Panel (Bokeh's server); blocks unless ``threaded``.

    Args:
        port: TCP port (0 picks a free one).
        show: open it in the default web browser.
        address: the address to listen on (loopback by default).
        threaded: run the server in a background thread and return it (``.stop()`` ends it).
        **kwargs: passed to :func:`panel.serve`.

    Returns:
        The server, or its thread when ``threaded``.
    """
    pn.extension("filedropper")
    kwargs.setdefault("websocket_max_message_size", 64 * 1024 * 1024)
    return pn.serve(
        {"/": create_app},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        title="qfast dashboard",
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"] if port else "*",
        verbose=False,
        **kwargs,
    )
