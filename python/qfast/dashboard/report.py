"""The offline HTML report: one self-contained file (images inline, charts as SVG, no scripts or fonts to fetch)."""

from __future__ import annotations

import datetime as _dt
from html import escape

import numpy as np

import qfast

from . import views
from .charts import histogram_chart
from .pictures import histograms, sample_pixels, scatter3d
from .quantization import ladder_settings, quantize
from .rate_distortion import rate_distortion, rd_region
from .settings import Result, Settings
from .upload import channels

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;margin:24px auto;
max-width:1100px;padding:0 16px;color:#222;line-height:1.4}
h1{font-size:24px;margin-bottom:4px} h2{font-size:18px;margin-top:28px;border-bottom:1px solid #ddd}
.explain{font-size:13px;color:#444;max-width:820px} .row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.muted{color:#666;font-size:12px}
"""


def build_report(
    image: np.ndarray,
    settings: Settings | None = None,
    *,
    name: str = "image",
    result: Result | None = None,
    rungs: list[Result] | None = None,
    rd: dict | None = None,
    note: str = "",
) -> str:
    """The report of one comparison as a complete HTML document that opens offline.

    Args:
        image: the original, uint8 (H, W) or (H, W, 3).
        settings: the comparison's settings (default: uniform, 4 bits, midpoint).
        name: the image's name, for the title.
        note: how the file was converted to the image shown (from :func:`~qfast.dashboard.upload.load_upload`),
            printed under the title; "" for none.
        result, rungs, rd: already computed parts (the dashboard passes its cached ones); computed when ``None``.

    Returns:
        The HTML text (UTF-8).
    """
    s = settings or Settings()
    r = result if result is not None else quantize(image, s)
    rungs = rungs if rungs is not None else [quantize(image, t) for t in ladder_settings(s)]
    rd = rd if rd is not None else rate_distortion(image)
    npx = image.shape[0] * image.shape[1]
    h, w = image.shape[:2]
    when = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>qfast report: {escape(name)}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>What quantization does to {escape(name)}</h1>",
        f"<div class='muted'>{w} x {h}, {channels(image)} channel(s); {escape(s.label())}; "
        f"qfast {escape(qfast.__version__)}; {when}</div>",
        f"<div class='qf-upload-note muted'><b>Note:</b> {escape(note)}</div>" if note else "",
        "<h2>Comparison</h2><div class='row'><div style='flex:1;min-width:420px'>",
        views.swipe(image, r.image, controls=True),
        "</div><div style='width:360px'>",
        views.metrics_table(image, r),
        f"<p class='explain'>{views.EXPLAIN['compare']}</p><p class='explain'>{views.EXPLAIN['methods']}</p>",
        "</div></div>",
        "<h2>Quantization error</h2><div class='row'>",
        views.heat_map(image, r),
        f"<p class='explain' style='max-width:420px'>{views.EXPLAIN['error']}</p></div>",
        "<h2>Histograms</h2><div class='row'>",
        histogram_chart(histograms(image), histograms(r.image)),
        f"<p class='explain' style='max-width:380px'>{views.EXPLAIN['histogram']}</p></div>",
        "<h2>The ladder</h2>",
        views.ladder(image, rungs, current=s),
        f"<p class='explain'>{views.EXPLAIN['ladder']}</p>",
    ]
    if r.palette is not None:
        parts += [
            "<h2>Palette</h2><div class='row'>",
            views.swatches(r.palette),
            views.figure(
                scatter3d(sample_pixels(image), r.palette),
                "pixels and palette in the RGB cube",
                width=360,
            ),
            f"<p class='explain' style='max-width:360px'>{views.EXPLAIN['palette']}</p></div>",
        ]
    cur = (r.bpp(npx), r.psnr, s.label())
    parts += [
        "<h2>Rate and distortion</h2><div class='row'>",
        views.rd_plot(rd, cur),
        f"<p class='explain' style='max-width:380px'>{views.EXPLAIN['rd']}</p></div>",
        f"<p class='muted'>{escape(rd_region(image)[1])}</p>" if rd_region(image)[1] else "",
        "<p class='muted'>Made with qfast. This file is self-contained: it needs no network.</p></body></html>",
    ]
    return "".join(parts)
