"""HTML fragments of the dashboard's views, shared by the live page and the offline report (no Panel here).

Every fragment is self-contained: images are ``data:`` URIs, charts are inline SVG, and the little interactivity
(the swipe slider, the zoom) is inline event handlers, so a saved page works with no server and no network.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from .exports import data_uri, heat_png
from .pictures import HEAT_LUT, error_levels, thumbnail
from .settings import Result

#: Short, plain explanations shown beside the views (and in the report).
EXPLAIN: dict[str, str] = {
    "compare": (
        "<b>Quantization</b> replaces each value (0..255 per colour channel) by one of a few levels. "
        "With <i>b</i> bits per channel there are 2<sup>b</sup> levels: 8 bits is the original, 1 bit leaves two "
        "shades per channel. Fewer levels means fewer bits to store and more visible <b>banding</b> in smooth areas. "
        "Drag the slider to swipe between the original (left) and the result (right); zoom to 1:1 to see single "
        "pixels."
    ),
    "methods": (
        "<b>Uniform</b> quantization cuts 0..255 into equal bins; <i>midpoint</i> reconstruction puts each value at "
        "its bin's middle (least error), <i>full-range</i> stretches the levels to reach 0 and 255. "
        "<b>Non-uniform</b> quantizers place levels where they help: <b>Lloyd-Max</b> fits them to this image's "
        "histogram (least squared error for the count), <b>mu-law</b> spends more levels on dark values, as telephone "
        "audio does. A <b>palette</b> (k-means) picks K whole colours instead of levels per channel."
    ),
    "error": (
        "The <b>quantization error</b> is the difference between the original and the result. The heat map shows its "
        "size per pixel (the largest over the channels): black is exact, yellow is the largest error in the image. "
        "<b>PSNR</b> summarises it in decibels (higher is better; +6 dB is roughly one more bit); <b>SSIM</b> (0..1) "
        "measures how well structure survives."
    ),
    "histogram": (
        "A histogram counts how many pixels have each value. Quantization collapses the smooth spread of the "
        "original (shaded) onto a few spikes (lines): every pixel in a bin lands on that bin's level."
    ),
    "ladder": (
        "The ladder: the same image at falling bit depths (or palette sizes). <b>Packed size</b> is the indices "
        "stored at ceil(log2 L) bits each with no further compression (for palettes, plus the palette), so it falls "
        "in step with the bits while quality falls faster at the bottom."
    ),
    "palette": (
        "A palette image stores one index per pixel into a short list of colours. k-means finds K colours that "
        "minimise the squared error; the 3-D view shows the image's pixels (dots) inside the RGB cube and the "
        "palette (ringed discs) sitting in the middle of their clusters. Dithering trades flat banding for fine noise."
    ),
    "rd": (
        "Rate-distortion: quality (PSNR) against size (bits per pixel) for this image. Plain quantization with packing "
        "spends bits evenly and cannot compete with JPEG and WebP, which transform and entropy-code the image; the "
        "qfast codec adds prediction and entropy coding to quantization, with a guaranteed maximum error."
    ),
    "codec": (
        "The .qfz codec quantizes each channel (in bounded mode every value stays within <i>d</i> grey levels), "
        "predicts each index from its neighbours and entropy-codes the residuals. On decode the corrector can win "
        "back quality. It is clamped inside each value's bin; in bounded mode the bins are a little narrower than "
        "2<i>d</i>+1 values, and the corrector may only move a value where it stays within <i>d</i> of everything "
        "in its bin, so the bound holds with and without it."
    ),
    "corrector": (
        "<b>Model quantization.</b> The corrector is a neural network that undoes quantization artifacts. Its own "
        "weights can be quantized too: the <b>int8</b> model stores weights in 8 bits instead of 32, so it is about "
        "4x smaller and often faster, at a small cost in accuracy. That is <b>post-training quantization</b> (PTQ): "
        "the trained fp32 model is converted afterwards, calibrated on sample inputs. <b>Quantization-aware "
        "training</b> (QAT) instead simulates the rounding during training so the weights learn to tolerate it; it "
        "costs a training run and usually loses less. The same trade as in the images: fewer bits, some error."
    ),
}


def fmt_db(v: float) -> str:
    """PSNR as text: ``"34.67 dB"`` or ``"inf (exact)"``."""
    return "inf (exact)" if math.isinf(v) else f"{v:.2f} dB"


def fmt_bytes(n: float | None) -> str:
    """A byte count as ``"12.3 kB"``; ``"n/a"`` for ``None``."""
    if n is None:
        return "n/a"
    for unit, div in (("MB", 1e6), ("kB", 1e3)):
        if n >= div:
            return f"{n / div:.1f} {unit}"
    return f"{int(n)} B"


def swipe(
    original: np.ndarray,
    result: np.ndarray,
    *,
    zoom: str = "fit",
    controls: bool = False,
    original_src: str | None = None,
) -> str:
    """The swipe comparison: the original on the left of a slider, the result on the right.

    Args:
        original, result: uint8 images of the same shape.
        zoom: ``"fit"`` (scale to the page's width) or ``"1:1"``, ``"2:1"``, ``"4:1"`` (pixels shown crisp, scroll
            to pan).
        controls: add an inline zoom selector (for the offline report, which has no server to ask).
        original_src: the original's ``data:`` URI when the caller has it already (it is the slow part).
    """
    h, w = original.shape[:2]
    factor = {"fit": 0, "1:1": 1, "2:1": 2, "4:1": 4}.get(zoom, 0)
    width = "100%" if factor == 0 else f"{w * factor}px"
    img_style = "position:absolute;left:0;top:0;width:100%;height:100%;image-rendering:pixelated;user-select:none"
    zoom_ctl = ""
    if controls:
        opts = "".join(f'<option value="{f}">{z}</option>' for z, f in (("fit", 0), ("1:1", 1), ("2:1", 2), ("4:1", 4)))
        zoom_ctl = (
            f" zoom <select onchange=\"var s=this.parentNode.parentNode.querySelector('.qf-stage');"
            f"var f=+this.value;s.style.width=f?({w}*f)+'px':'100%'\">{opts}</select>"
        )
    return (
        f'<div class="qf-swipe" data-w="{w}" data-h="{h}">'
        '<div class="qf-scroll" style="overflow:auto;max-width:100%;max-height:640px;border:1px solid #ccc">'
        f'<div class="qf-stage" style="position:relative;width:{width};aspect-ratio:{w}/{h}">'
        f'<img class="qf-after" alt="result" src="{data_uri(result)}" style="{img_style}">'
        f'<img class="qf-before" alt="original" src="{original_src or data_uri(original)}" '
        f'style="{img_style};clip-path:inset(0 50% 0 0)">'
        '<div class="qf-bar" style="position:absolute;top:0;bottom:0;left:50%;width:2px;background:#fff;'
        'box-shadow:0 0 3px #000;pointer-events:none"></div></div></div>'
        '<div style="display:flex;align-items:center;gap:8px;font-size:12px;margin-top:4px">original'
        '<input class="qf-slider" type="range" min="0" max="100" value="50" style="flex:1" '
        "oninput=\"var s=this.parentNode.parentNode.querySelector('.qf-stage');"
        "s.children[1].style.clipPath='inset(0 '+(100-this.value)+'% 0 0)';"
        "s.children[2].style.left=this.value+'%'\">result"
        f"{zoom_ctl}</div></div>"
    )


def metrics_table(original: np.ndarray, r: Result, *, ssim_pending: bool = False) -> str:
    """The current result's numbers: PSNR, SSIM, MSE, max error, packed size, bpp, ratio to the raw image, time."""
    npx = original.shape[0] * original.shape[1]
    raw = original.nbytes
    rows = [
        ("setting", escape(r.settings.label())),
        ("PSNR", fmt_db(r.psnr)),
        (
            "SSIM",
            "computing..." if ssim_pending else "n/a (image under 11 px)" if math.isnan(r.ssim) else f"{r.ssim:.4f}",
        ),
        ("MSE", f"{r.mse:.2f}"),
        ("max error", f"{r.max_error} grey levels"),
        (
            "packed size",
            f"{fmt_bytes(r.packed_bytes)} ({r.bpp(npx):.2f} bpp, {raw / max(1, r.packed_bytes):.1f}x "
            f"smaller than the raw {fmt_bytes(raw)})",
        ),
        ("time", f"{r.ms:.1f} ms"),
    ]
    note = r.extra.get("note")
    if note:
        rows.append(("note", escape(note)))
    body = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{k}</th><td>{v}</td></tr>" for k, v in rows)
    psnr = "inf" if math.isinf(r.psnr) else f"{r.psnr:.4f}"
    return (
        f'<table class="qf-metrics" data-psnr="{psnr}" data-ssim="{r.ssim:.6f}" data-bytes="{r.packed_bytes}" '
        f'style="font-size:13px;border-collapse:collapse">{body}</table>'
    )


_BAR: list[str] = []


def _heat_bar() -> str:
    if not _BAR:
        _BAR.append(data_uri(HEAT_LUT[np.linspace(0, 255, 128).astype(int)][None].repeat(10, axis=0)))
    return _BAR[0]


def heat_map(original: np.ndarray, r: Result, *, width: int = 384) -> str:
    """The error heat map as an ``<img>`` with a colour scale."""
    import base64

    levels, scale = error_levels(original, r.image, block=max(1, original.shape[1] // width))
    src = "data:image/png;base64," + base64.b64encode(heat_png(levels)).decode("ascii")
    return (
        f'<div class="qf-heat"><img alt="error heat map" src="{src}" '
        f'style="width:{width}px;max-width:100%;image-rendering:pixelated;display:block">'
        f'<div style="display:flex;align-items:center;gap:6px;font-size:12px">0'
        f'<img alt="scale" src="{_heat_bar()}" style="width:160px;height:10px">{scale} grey levels'
        f"</div></div>"
    )


def ladder(original: np.ndarray, rungs: list[Result], *, current: Any | None = None, width: int = 220) -> str:
    """The ladder: the original and each rung side by side, with PSNR, SSIM and packed size under each."""
    npx = original.shape[0] * original.shape[1]
    cells = [
        (
            "original",
            thumbnail(original, 2 * width),
            f"{fmt_bytes(original.nbytes)} raw ({8 * original.nbytes / npx:.0f} bpp)",
            False,
        )
    ]
    for r in rungs:
        s = r.settings
        name = f"K = {s.k}" if s.method == "palette" else f"{s.bits} bit{'s' if s.bits > 1 else ''} ({s.level_count})"
        ss = "n/a" if math.isnan(r.ssim) else f"{r.ssim:.3f}"
        text = f"PSNR {fmt_db(r.psnr)}<br>SSIM {ss}<br>{fmt_bytes(r.packed_bytes)} ({r.bpp(npx):.2f} bpp)"
        cells.append((name, thumbnail(r.image, 2 * width), text, current is not None and s == current))
    out = ['<div class="qf-ladder" style="display:flex;flex-wrap:wrap;gap:10px">']
    for name, img, text, mark in cells:
        border = "3px solid #e6550d" if mark else "1px solid #ccc"
        out.append(
            f'<figure style="margin:0;width:{width}px"><img alt="{escape(name)}" src="{data_uri(img)}" '
            f'style="width:{width}px;border:{border};display:block">'
            f'<figcaption style="font-size:12px"><b>{escape(name)}</b><br>{text}</figcaption></figure>'
        )
    out.append("</div>")
    return "".join(out)


def swatches(palette: np.ndarray) -> str:
    """The palette as a grid of colour swatches, each titled with its hex code."""
    cells = []
    for c in np.asarray(palette)[:, :3]:
        hx = "#{:02x}{:02x}{:02x}".format(*(int(v) for v in c))
        cells.append(f'<div title="{hx}" style="width:22px;height:22px;background:{hx};border:1px solid #888"></div>')
    return (
        f'<div class="qf-swatches" style="display:flex;flex-wrap:wrap;gap:2px;max-width:560px">{"".join(cells)}'
        f"</div><div style='font-size:12px'>{len(palette)} colours</div>"
    )


def rd_plot(curves: dict[str, list[tuple[float, float, str]]], current: tuple[float, float, str] | None = None) -> str:
    """The rate-distortion chart (inline SVG)."""
    from .charts import line_chart

    return line_chart(
        curves, title="Rate-distortion for this image", xlabel="bits per pixel", ylabel="PSNR (dB)", highlight=current
    )


_ALERT_COLOURS = {"danger": ("#f8d7da", "#842029", "#f5c2c7"), "info": ("#cff4fc", "#055160", "#b6effb")}


def alert(text: str, kind: str = "info") -> str:
    """An alert box (``kind`` "danger" or "info") showing ``text`` as plain text: HTML in it is escaped."""
    bg, fg, border = _ALERT_COLOURS[kind]
    return (
        f'<div class="qf-alert qf-alert-{kind}" role="alert" style="padding:10px 14px;background:{bg};color:{fg};'
        f'border:1px solid {border};border-radius:4px;font-size:14px">{escape(text)}</div>'
    )


def note(text: str) -> str:
    """A short boxed note (e.g. "not available in this build")."""
    return (
        f'<div class="qf-note" style="padding:8px 12px;background:#f4f4f4;border-left:4px solid #999;'
        f'font-size:13px">{escape(text)}</div>'
    )


def codec_table(res: dict[str, Any], original: np.ndarray) -> str:
    """The codec's numbers: file size, bpp, and PSNR / max error / time of each decode."""
    rows = [("file", f"{fmt_bytes(res['bytes'])} ({res['bpp']:.2f} bpp), encoded in {res['encode_ms']:.0f} ms")]
    for key, name in (("plain", "decoded"), ("corrected", "decoded + corrector")):
        d = res.get(key)
        if d is None:
            rows.append((name, "the corrector is not available in this build"))
        else:
            rows.append((name, f"PSNR {fmt_db(d['psnr'])}, max error {d['max_error']}, {d['ms']:.0f} ms"))
    body = "".join(f"<tr><th style='text-align:left;padding-right:12px'>{k}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<table class="qf-codec" style="font-size:13px">{body}</table>'


def corrector_table(res: dict[str, Any]) -> str:
    """The corrector comparison: mid-bin, fp32 and int8 with size, latency, PSNR and SSIM."""
    rows = ["<tr><th></th><th>model size</th><th>latency</th><th>PSNR</th><th>SSIM</th></tr>"]
    m = res["midbin"]
    rows.append(
        f"<tr><th style='text-align:left'>mid-bin (no model)</th><td>-</td><td>-</td>"
        f"<td>{fmt_db(m['psnr'])}</td><td>{m['ssim']:.4f}</td></tr>"
    )
    for k in ("fp32", "int8"):
        d = res[k]
        rows.append(
            f"<tr><th style='text-align:left'>corrector {k}</th><td>{fmt_bytes(d['size'])}</td>"
            f"<td>{d['ms']:.0f} ms</td><td>{fmt_db(d['psnr'])}</td><td>{d['ssim']:.4f}</td></tr>"
        )
    return f'<table class="qf-corrector" style="font-size:13px;border-spacing:10px 2px">{"".join(rows)}</table>'


def figure(img: np.ndarray, caption: str, *, width: int = 300) -> str:
    """One captioned image."""
    return (
        f'<figure style="margin:0;width:{width}px"><img alt="{escape(caption)}" '
        f'src="{data_uri(thumbnail(img, 2 * width))}" style="width:{width}px;display:block">'
        f'<figcaption style="font-size:12px">{escape(caption)}</figcaption></figure>'
    )
