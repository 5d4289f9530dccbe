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
    _serve_stylesheets_locally()
    d = Dashboard(background=True)
    if pn.state.curdoc is not None:
        pn.state.on_session_destroyed(lambda _context: d.close())
    return d.__panel__()


def _serve_stylesheets_locally() -> None:
    """Makes Panel point stylesheets at this server whenever it cannot tell the page's address: never at its CDN.

    Panel rewrites each stylesheet's address to the document's ``dist_url``; for a model outside any document it
    falls back to its CDN (``panel.reactive.CDN_DIST``). The persistent panes of a hidden tab are such models (the
    tabs are dynamic), and they are updated while hidden, so showing the tab again made the page fetch
    ``loading.css`` and the theme's CSS from cdn.holoviz.org, which a machine with no internet cannot reach
    (Panel issue 7073). The app serves those files itself (``/static/extensions/panel/``), so that is the fallback
    here. ``tests/dashboard/test_dashboard_ui.py`` records every request of a whole session and guards this.
    """
    import panel.reactive
    from panel.io.resources import LOCAL_DIST

    panel.reactive.CDN_DIST = f"/{LOCAL_DIST}"


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port that is free on ``address`` now (the operating system's choice)."""
    import socket

    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def serve(
    port: int = 5006, *, show: bool = False, address: str = "127.0.0.1", threaded: bool = False, **kwargs: Any
) -> Any:
    """Serves the dashboard with Panel (Bokeh's server); blocks unless ``threaded``.

    Only pages served from this address and port may open a session (the websocket's ``Origin`` must be
    ``address:port`` or ``localhost:port``): another web page open in the same browser cannot drive the app.

    Args:
        port: TCP port; 0 picks a free one (:func:`free_port`; the server's ``port`` attribute says which).
        show: open it in the default web browser.
        address: the address to listen on (loopback by default).
        threaded: run the server in a background thread and return it (``.stop()`` ends it).
        **kwargs: passed to :func:`panel.serve`.

    Returns:
        The server, or its thread when ``threaded``.
    """
    if port == 0:
        port = free_port(address)
    pn.extension("filedropper")
    kwargs.setdefault("websocket_max_message_size", 64 * 1024 * 1024)
    return pn.serve(
        {"/": create_app},
        port=port,
        address=address,
        show=show,
        threaded=threaded,
        title="qfast dashboard",
        websocket_origin=[f"{address}:{port}", f"localhost:{port}"],
        verbose=False,
        **kwargs,
    )
