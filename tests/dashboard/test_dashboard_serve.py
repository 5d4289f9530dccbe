"""``qfast serve`` as a server: port 0 binds a real free port and says which, and only pages of the app itself may
open a websocket session (a foreign ``Origin`` gets 403). No browser needed."""

from __future__ import annotations

import base64
import http.client
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest

pytest.importorskip("panel", reason="the dashboard extra (panel) is needed")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, int]]:
    """``qfast serve --port 0``: the address and port it printed, once the page answers."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "qfast", "serve", "--port", "0"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stderr.readline() if proc.stderr else ""
        m = re.match(r"qfast dashboard on http://(127\.0\.0\.1):(\d+)/ ", line)
        assert m, f"serve printed {line!r}"
        host, port = m.group(1), int(m.group(2))
        assert port != 0
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://{host}:{port}/", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield host, port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


def _handshake(host: str, port: int, origin: str) -> int:
    """The status of a websocket upgrade request to the app's session endpoint from a page at ``origin``."""
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(
        "GET",
        "/ws",
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
            "Sec-WebSocket-Version": "13",
            "Origin": origin,
        },
    )
    status = conn.getresponse().status
    conn.close()
    return status


def test_port_zero_serves_on_the_port_it_prints(served: tuple[str, int]) -> None:
    host, port = served
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=10) as r:
        assert r.status == 200 and b"<html" in r.read()


@pytest.mark.parametrize("origin", ["http://evil.example", "http://127.0.0.1:1", "null"])
def test_a_foreign_origin_cannot_open_a_session(served: tuple[str, int], origin: str) -> None:
    host, port = served
    assert _handshake(host, port, origin) == 403


def test_the_apps_own_origin_is_not_refused(served: tuple[str, int]) -> None:
    host, port = served
    assert _handshake(host, port, f"http://{host}:{port}") != 403
    assert _handshake(host, port, f"http://localhost:{port}") != 403
