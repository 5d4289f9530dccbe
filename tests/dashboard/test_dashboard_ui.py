"""The dashboard in a real browser: Playwright for Python driving Chromium against ``qfast serve`` on loopback.

Screenshots go to ``tests/artifacts/screenshots`` so a person can look. Latencies are measured and printed (run
with ``-s`` to see them), not asserted tightly: the targets are 300 ms (uniform) and 500 ms (K = 16 palette) for
the 768 x 512 sample, and this machine is shared.

Chromium is looked up at ``/usr/bin/chromium`` (Debian's package) or ``$QFAST_CHROMIUM``. Without it these tests
skip, unless ``QFAST_REQUIRE_UI=1`` (set by ``.ci/run``), where they fail instead.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import qfast

pytestmark = pytest.mark.ui

HAS_PALETTE = hasattr(qfast, "quantize_colors")
CHROMIUM = os.environ.get("QFAST_CHROMIUM", "/usr/bin/chromium")
SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
WEB_APP = Path(__file__).resolve().parents[2] / "web" / "app.py"

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python (the test extra) is needed")
pytest.importorskip("panel", reason="the dashboard extra (panel) is needed")

if not Path(CHROMIUM).exists():
    if os.environ.get("QFAST_REQUIRE_UI") == "1":
        raise RuntimeError(f"QFAST_REQUIRE_UI=1 but no Chromium at {CHROMIUM} (apt-get install chromium)")
    pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set QFAST_CHROMIUM)", allow_module_level=True)

# Finds the first element matching a selector anywhere, inside Bokeh's shadow roots too (querySelector stops at them).
_FIND = """(sel) => { const deep = (root) => { const e = root.querySelector(sel); if (e) return e;
  for (const el of root.querySelectorAll('*')) {
    if (el.shadowRoot) { const f = deep(el.shadowRoot); if (f) return f; } }
  return null; }; return deep(document); }"""
_STATE = f"""() => {{ const find = {_FIND};
  const m = find('.qf-metrics'), a = find('.qf-after');
  return m && a ? m.getAttribute('data-psnr') + '|' + m.getAttribute('data-bytes') + '|' + a.src.length + ':' +
    a.src.slice(-40) : null; }}"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# Tornado's report of a message the server sent after the browser had closed its socket (the page went away at the
# end of a test): "Task exception was never retrieved", a traceback, and WebSocketClosedError last.
_CLOSED_SOCKET = re.compile(
    r"Task exception was never retrieved\n.*?WebSocketProtocol13\.write_message.*?\n"
    r"(?:(?!Task exception).*\n)*?tornado\.websocket\.WebSocketClosedError\n?"
)


def _without_closed_sockets(log: str) -> str:
    """The server log without tornado's reports of writes to a socket the browser had closed; any other error
    stays."""
    return _CLOSED_SOCKET.sub("", log)


@contextlib.contextmanager
def _server(cmd: list[str], port: int, cwd: Path | None = None) -> Iterator[str]:
    SHOTS.parent.mkdir(parents=True, exist_ok=True)
    (SHOTS.parent / f"server-{port}.log").unlink(missing_ok=True)
    log = open(SHOTS.parent / f"server-{port}.log", "wb")  # a file, not a pipe: nobody has to drain it
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    ok = False
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.flush()
                text = (SHOTS.parent / f"server-{port}.log").read_text(errors="replace")
                raise RuntimeError(f"the server exited early: {text}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield url
        log.flush()
        text = (SHOTS.parent / f"server-{port}.log").read_text(errors="replace")
        assert "Traceback" not in _without_closed_sockets(text), f"the server logged an error:\n{text}"
        ok = True
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        if ok:  # keep the server's log only when something went wrong
            (SHOTS.parent / f"server-{port}.log").unlink(missing_ok=True)


@pytest.fixture(scope="module")
def app_url() -> Iterator[str]:
    port = _free_port()
    with _server([sys.executable, "-m", "qfast", "serve", "--port", str(port)], port) as url:
        yield url


@pytest.fixture(scope="module")
def ui_browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


class Page:
    """A page of the app plus what it logged: console errors, page errors, requests."""

    def __init__(self, browser: object, url: str) -> None:
        self.context = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.goto(url)
        self.page.wait_for_function(_STATE, timeout=60_000)

    def state(self) -> str:
        return self.page.evaluate(_STATE)

    def wait_change(self, before: str, timeout: float = 30_000) -> float:
        """Waits until the result shown differs from ``before``; returns the milliseconds it took from now."""
        t = time.perf_counter()
        self.page.wait_for_function(
            f"(b) => {{ const s = ({_STATE})(); return s && s !== b; }}", arg=before, polling=5, timeout=timeout
        )
        return 1000 * (time.perf_counter() - t)

    def click_bits(self, bits: int) -> None:
        self.page.locator(".qf-bits").get_by_role("button", name=str(bits), exact=True).click()

    def set_bits(self, bits: int) -> float:
        """Clicks a bit depth and waits until the metrics show it and the new result image is decoded.

        Returns:
            The milliseconds from the click to then, measured inside the page (so the test driver's own round
            trips do not count).
        """
        label = f"{bits} bit{'s' if bits > 1 else ''} ({1 << bits} levels)"
        self.page.locator(".qf-bits").get_by_role("button", name=str(bits), exact=True).wait_for()
        return float(
            self.page.evaluate(
                f"""async ([bits, label]) => {{
                const find = {_FIND};
                const metrics = find('.qf-metrics').getRootNode(), after = find('.qf-after');
                const host = find('.qf-bits');
                const button = [...(host.shadowRoot || host.getRootNode()).querySelectorAll('button')]
                    .find(b => b.textContent.trim() === String(bits));
                const before = after.src, t0 = performance.now();
                button.click();
                return await new Promise((resolve, reject) => {{
                    const check = () => {{
                        const m = metrics.querySelector('.qf-metrics');
                        if (m && m.innerText.includes(label) && after.src !== before && after.complete &&
                            after.naturalWidth > 0) {{ resolve(performance.now() - t0); return; }}
                        if (performance.now() - t0 > 30000) {{ reject(new Error('no update in 30 s')); return; }}
                        setTimeout(check, 2);
                    }};
                    check();
                }});
            }}""",
                [bits, label],
            )
        )

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.mouse.move(1, 1)  # no tooltip in the picture
        self.page.screenshot(path=str(SHOTS / f"{name}.png"))


@pytest.fixture
def ui_page(ui_browser: object, app_url: str) -> Iterator[Page]:
    p = Page(ui_browser, app_url)
    yield p
    p.context.close()


def _png(w: int, h: int) -> bytes:
    y, x = np.mgrid[0:h, 0:w]
    img = np.stack([x * 255 // w, y * 255 // h, (x + y) % 256], axis=2).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    return buf.getvalue()


def _upload(p: Page, name: str, data: bytes, mime: str) -> None:
    p.page.locator("input[type=file]").first.set_input_files({"name": name, "mimeType": mime, "buffer": data})


def test_page_loads_offline_without_console_errors(ui_page: Page, app_url: str) -> None:
    ui_page.shot("01-loaded")
    assert ui_page.errors == []
    host = app_url.split("/")[2]
    foreign = [u for u in ui_page.requests if not u.startswith(("data:", "blob:")) and u.split("/")[2] != host]
    assert foreign == [], f"the page fetched from outside the app: {foreign}"
    assert any("/static/" in u for u in ui_page.requests)  # Bokeh and Panel serve their own scripts
    # A sample renders: both images of the comparison are decoded, at the sample's size.
    sizes = ui_page.page.evaluate(f"""() => {{ const find = {_FIND};
        const a = find('.qf-after'), b = find('.qf-before');
        return [a.complete && a.naturalWidth, a.naturalHeight, b.naturalWidth]; }}""")
    assert sizes == [768, 512, 768]
    assert ui_page.page.get_by_text("PSNR", exact=True).first.is_visible()


def test_changing_bits_changes_images_and_metrics_and_is_quick(ui_page: Page) -> None:
    first = ui_page.state()
    psnr = {}
    latencies = []
    for bits in (7, 6, 3, 1, 5, 2):
        latencies.append(ui_page.set_bits(bits))
        psnr[bits] = float(ui_page.state().split("|")[0])
    ui_page.shot("02-bits-2")
    assert ui_page.state() != first
    assert psnr[1] < psnr[2] < psnr[3] < psnr[5] < psnr[6] < psnr[7]
    assert psnr[2] == pytest.approx(
        qfast.psnr(qfast.samples.load(), qfast.quantize_uniform(qfast.samples.load(), 4)), abs=1e-3
    )
    # Back to a setting seen before: it comes from the cache.
    cached = ui_page.set_bits(6)
    print(
        f"\nupdate latency, uniform 768x512 (target 300 ms): median {statistics.median(latencies):.0f} ms, "
        f"max {max(latencies):.0f} ms over {len(latencies)} changes; from the cache {cached:.0f} ms"
    )
    assert max(latencies) < 10_000  # a loose bound: the page never stalls; the target is printed above
    assert ui_page.errors == []


@pytest.mark.skipif(not HAS_PALETTE, reason="qfast.quantize_colors (the palette feature) not in this build")
def test_palette_latency(ui_page: Page) -> None:
    before = ui_page.state()
    ui_page.page.locator(".qf-method select").select_option("palette")
    ms = ui_page.wait_change(before)
    ui_page.shot("03-palette-k16")
    print(f"\nupdate latency, K=16 palette 768x512 (target 500 ms): {ms:.0f} ms")
    assert "K = 16" in ui_page.page.locator(".qf-metrics").inner_text()


def test_method_and_levels_controls(ui_page: Page) -> None:
    metrics = f"() => ({_FIND})('.qf-metrics').innerText"
    ui_page.page.locator(".qf-method select").select_option("lloyd-max")
    ui_page.page.wait_for_function(f"() => ({metrics})().includes('lloyd-max, 4 bits')", timeout=30_000)
    ui_page.page.get_by_role("button", name="levels", exact=True).click()
    levels = ui_page.page.locator(".qf-levels input")
    levels.fill("5")
    levels.press("Enter")
    ui_page.page.wait_for_function(f"() => ({metrics})().includes('lloyd-max, 5 levels')", timeout=30_000)
    ui_page.shot("03-lloyd-max-5-levels")
    assert ui_page.errors == []


def test_swipe_and_zoom_to_one_to_one(ui_page: Page) -> None:
    stage = f"() => ({_FIND})('.qf-stage').style.width"
    assert ui_page.page.evaluate(stage) == "100%"
    ui_page.page.get_by_role("button", name="1:1", exact=True).click()
    ui_page.page.wait_for_function(f"() => ({stage})() === '768px'", timeout=30_000)
    ui_page.page.locator(".qf-slider").fill("30")
    assert "70%" in ui_page.page.evaluate(f"() => ({_FIND})('.qf-before').style.clipPath")
    ui_page.shot("03-zoom-1to1")
    ui_page.page.get_by_role("button", name="fit", exact=True).click()
    ui_page.page.wait_for_function(f"() => ({stage})() === '100%'", timeout=30_000)
    assert ui_page.errors == []


def test_many_quick_clicks_settle_on_the_last(ui_page: Page) -> None:
    t = time.perf_counter()
    for bits in (1, 2, 3, 4, 5, 6, 7, 8, 1, 3, 2, 6):
        ui_page.click_bits(bits)
    ui_page.page.wait_for_function(
        f"() => {{ const m = ({_FIND})('.qf-metrics'); return m && m.innerText.includes('6 bits (64 levels)'); }}",
        timeout=30_000,
    )
    settle = 1000 * (time.perf_counter() - t)
    time.sleep(0.5)  # nothing stale arrives afterwards
    assert "6 bits (64 levels)" in ui_page.page.locator(".qf-metrics").inner_text()
    print(f"\n12 quick clicks settled on the last in {settle:.0f} ms")
    assert ui_page.errors == []


def test_upload_png(ui_page: Page) -> None:
    before = ui_page.state()
    _upload(ui_page, "gradient.png", _png(300, 200), "image/png")
    ui_page.wait_change(before)
    ui_page.page.wait_for_function(
        f"() => ({_FIND})('.qf-metrics').getAttribute('data-bytes') === '90000'", timeout=30_000
    )  # 300 x 200 x 3 channels x 4 bits
    ui_page.shot("04-uploaded-png")
    assert ui_page.page.locator(".qf-source select").input_value() == "upload: gradient.png"
    assert ui_page.errors == []


def test_upload_text_shows_the_error_and_the_page_still_works(ui_page: Page) -> None:
    _upload(ui_page, "notes.txt", b"this is not an image\n" * 20, "text/plain")
    msg = ui_page.page.get_by_text("notes.txt: not an image qfast can read")
    msg.wait_for(timeout=30_000)
    ui_page.shot("05-upload-error")
    ui_page.set_bits(2)
    assert "2 bits (4 levels)" in ui_page.page.locator(".qf-metrics").inner_text()


def test_tabs_render(ui_page: Page) -> None:
    counts = {".qf-ladder": 0}

    for tab, needle in (
        ("Ladder", ".qf-ladder figure"),
        ("Rate-distortion", "svg polyline"),
        ("Error & histograms", ".qf-heat"),
        ("Palette", ".qf-note, .qf-swatches"),
        ("Codec", ".qf-note, .qf-codec"),
        ("Model quantization", ".qf-note, .qf-corrector"),
    ):
        ui_page.page.locator(".bk-tab", has_text=tab).first.click()
        try:
            ui_page.page.wait_for_function(f"() => !!({_FIND})('{needle}')", timeout=60_000)
        except Exception as e:  # playwright's TimeoutError: say which tab never showed its content
            ui_page.shot(f"06-tab-{tab.split()[0].lower()}-timeout")
            raise AssertionError(f"tab {tab!r}: no {needle!r} within 60 s; page errors {ui_page.errors}") from e
        if tab == "Ladder":
            counts[".qf-ladder"] = ui_page.page.locator(".qf-ladder figure").count()
        ui_page.shot(f"06-tab-{tab.split()[0].lower()}")
    assert counts[".qf-ladder"] == 5
    assert ui_page.errors == []


def test_report_downloads_and_opens_offline(ui_page: Page, ui_browser: object, tmp_path: Path) -> None:
    with ui_page.page.expect_download(timeout=60_000) as info:
        ui_page.page.locator(".qf-dl-report button, .qf-dl-report a").first.click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.name == "parrots-uniform-16-report.html"
    ctx = ui_browser.new_context(viewport={"width": 1200, "height": 900})
    fetched: list[str] = []

    def block(route: object) -> None:
        url = route.request.url
        if url.startswith(("file:", "data:")):
            route.continue_()
        else:
            fetched.append(url)
            route.abort()

    ctx.route("**/*", block)
    report = ctx.new_page()
    errors: list[str] = []
    report.on("pageerror", lambda e: errors.append(str(e)))
    report.goto(path.as_uri())
    assert report.locator("h1").inner_text() == "What quantization does to parrots"
    assert report.evaluate("() => [...document.images].every(i => i.complete && i.naturalWidth > 0)")
    report.locator(".qf-slider").fill("20")  # the swipe works with no server
    assert "80%" in report.evaluate("() => document.querySelector('.qf-before').style.clipPath")
    report.locator(".qf-swipe select").select_option("2")  # the zoom works with no server too
    assert report.evaluate("() => document.querySelector('.qf-stage').style.width") == "1536px"
    report.screenshot(path=str(SHOTS / "07-report.png"), full_page=False)
    assert fetched == [] and errors == []
    ctx.close()


def test_html_in_file_names_and_file_errors_is_shown_as_text(ui_page: Page) -> None:
    # A file name is user input: as Markdown with raw HTML it ran script in the page.
    evil = '<img src=x onerror="window.__qf_xss=1">.png'
    _upload(ui_page, evil, b"not an image at all", "image/png")
    ui_page.page.get_by_text(f"{evil}: not an image qfast can read").wait_for(timeout=30_000)
    qfz = "<b>bold</b>.qfz"
    _upload(ui_page, qfz, b"\x89QFZ\x09\x00" + b"\x00" * 60, "application/octet-stream")  # an unknown version
    ui_page.page.get_by_text(qfz, exact=False).first.wait_for(timeout=30_000)
    ui_page.shot("05-upload-html-name")
    assert ui_page.page.evaluate("() => window.__qf_xss") is None
    assert ui_page.page.evaluate(f"() => !({_FIND})('.qf-message b')")  # no element made from the name
    assert not [u for u in ui_page.requests if u.rstrip("/").endswith("/x")]  # the <img src=x> was never made
    assert ui_page.errors == []


def test_a_whole_session_fetches_only_from_the_app(ui_page: Page, app_url: str, tmp_path: Path) -> None:
    """Load, every tab, an upload (which shows the loading indicator), a bad upload and every download: each request
    the page makes goes to the app itself (no CDN: the page must work on a machine with no internet)."""
    for tab in ("Ladder", "Rate-distortion", "Error & histograms", "Palette", "Codec", "Model quantization"):
        ui_page.page.locator(".bk-tab", has_text=tab).first.click()
        ui_page.page.wait_for_timeout(300)
    # Upload with a lazy tab open: its view recomputes under Panel's loading indicator (whose stylesheet once came
    # from Panel's CDN).
    before = ui_page.state()
    ui_page.page.locator(".bk-tab", has_text="Rate-distortion").first.click()
    _upload(ui_page, "gradient.png", _png(320, 240), "image/png")
    deadline = time.monotonic() + 30
    while ui_page.page.locator(".qf-source select").input_value() != "upload: gradient.png":
        assert time.monotonic() < deadline, "the upload did not become the current image"
        time.sleep(0.1)
    ui_page.page.wait_for_function(f"() => !!({_FIND})('svg polyline')", timeout=60_000)
    ui_page.page.locator(".bk-tab", has_text="Compare").first.click()
    ui_page.wait_change(before)
    _upload(ui_page, "notes.txt", b"not an image", "text/plain")
    ui_page.page.get_by_text("notes.txt: not an image qfast can read").wait_for(timeout=30_000)
    for kind in ("png", "indexed-png", "gif", "qfz", "ladder-gif", "report"):
        button = ui_page.page.locator(f".qf-dl-{kind} button, .qf-dl-{kind} a").first
        if not button.count():
            continue  # a build without the codec has no .qfz download
        with ui_page.page.expect_download(timeout=60_000) as info:
            button.click()
        info.value.save_as(tmp_path / info.value.suggested_filename)
    ui_page.page.wait_for_timeout(500)
    host = app_url.split("/")[2]
    foreign = [u for u in ui_page.requests if not u.startswith(("data:", "blob:")) and u.split("/")[2] != host]
    assert foreign == [], f"the page fetched from outside the app: {sorted(set(foreign))}"
    assert ui_page.errors == []
    assert len(list(tmp_path.iterdir())) >= 5


@pytest.mark.skipif(not WEB_APP.exists(), reason="web/app.py is in a checkout, not in the wheel")
def test_panel_serve_web_app(ui_browser: object) -> None:
    port = _free_port()
    cmd = [
        sys.executable,
        "-m",
        "panel",
        "serve",
        str(WEB_APP),
        "--port",
        str(port),
        "--address",
        "127.0.0.1",
        "--allow-websocket-origin",
        f"127.0.0.1:{port}",
    ]
    with _server(cmd, port) as url:
        p = Page(ui_browser, url + "app")
        p.set_bits(3)
        assert p.errors == []
        p.context.close()
