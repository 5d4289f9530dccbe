"""Small SVG charts (line plots and histograms) with no plotting library: the page and the offline report share them."""

from __future__ import annotations

import math
from html import escape

import numpy as np

#: Curve colours, in order; channel colours for histograms.
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
CHANNEL_COLOURS = {1: ("#444444",), 3: ("#d62728", "#2ca02c", "#1f77b4")}
CHANNEL_NAMES = {1: ("grey",), 3: ("red", "green", "blue")}


def _ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = max(hi - lo, 1e-9)
    step = 10 ** math.floor(math.log10(span / n))
    for m in (1, 2, 2.5, 5, 10):
        if span / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


def _fmt(v: float) -> str:
    return f"{v:.0f}" if abs(v - round(v)) < 1e-9 else f"{v:g}"


#: The width of a legend character at 11 px sans-serif, generously (for sizing the legend's column).
LEGEND_CHAR_PX = 6.6


def line_chart(
    curves: dict[str, list[tuple[float, float, str]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    width: int = 620,
    height: int = 360,
    highlight: tuple[float, float, str] | None = None,
) -> str:
    """An SVG line chart: one polyline with point markers per curve, a legend, axes with ticks.

    Args:
        curves: ``{name: [(x, y, label), ...]}``; non-finite points are left out. Point labels show on hover.
        title, xlabel, ylabel: texts.
        width, height: pixels.
        highlight: one extra point ``(x, y, label)`` drawn as a ringed star (e.g. the current setting).

    Returns:
        The ``<svg>`` element as text.
    """
    pts = [(x, y) for c in curves.values() for x, y, _ in c if math.isfinite(x) and math.isfinite(y)]
    if highlight and math.isfinite(highlight[0]) and math.isfinite(highlight[1]):
        pts.append(highlight[:2])
    if not pts:
        pts = [(0.0, 0.0), (1.0, 1.0)]
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1 = 0.0, max(xs) * 1.05 or 1.0
    y0, y1 = math.floor(min(ys) / 5) * 5, math.ceil(max(ys) / 5) * 5
    if y1 <= y0:
        y1 = y0 + 5
    left, top, bottom = 52, 30, 44
    # the legend's column fits its longest name (about 6.5 px a character at 11 px): the plot keeps its size
    names = [*curves, "current setting"]
    right = max(170, 48 + math.ceil(LEGEND_CHAR_PX * max(len(n) for n in names)))
    pw, ph = width - left - 170, height - top - bottom
    width = left + pw + right

    def sx(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * pw

    def sy(y: float) -> float:
        return top + (1 - (y - y0) / (y1 - y0)) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11" role="img">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="#fff" stroke="#999"/>',
    ]
    for t in _ticks(x0, x1):
        out.append(
            f'<line x1="{sx(t):.1f}" y1="{top}" x2="{sx(t):.1f}" y2="{top + ph}" stroke="#eee"/>'
            f'<text x="{sx(t):.1f}" y="{top + ph + 14}" text-anchor="middle">{_fmt(t)}</text>'
        )
    for t in _ticks(y0, y1):
        out.append(
            f'<line x1="{left}" y1="{sy(t):.1f}" x2="{left + pw}" y2="{sy(t):.1f}" stroke="#eee"/>'
            f'<text x="{left - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    out.append(f'<text x="{left + pw / 2}" y="{height - 8}" text-anchor="middle">{escape(xlabel)}</text>')
    out.append(
        f'<text transform="translate(14,{top + ph / 2}) rotate(-90)" text-anchor="middle">{escape(ylabel)}</text>'
    )
    for i, (name, c) in enumerate(curves.items()):
        col = COLOURS[i % len(COLOURS)]
        good = [(x, y, lab) for x, y, lab in c if math.isfinite(x) and math.isfinite(y)]
        if len(good) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in good)
            out.append(f'<polyline points="{path}" fill="none" stroke="{col}" stroke-width="2"/>')
        for x, y, lab in good:
            out.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3.5" fill="{col}">'
                f"<title>{escape(name)} {escape(lab)}: {x:.2f} bpp, {y:.2f} dB</title></circle>"
            )
        ly = top + 14 + 18 * i
        out.append(
            f'<line x1="{left + pw + 12}" y1="{ly - 4}" x2="{left + pw + 32}" y2="{ly - 4}" stroke="{col}" '
            f'stroke-width="3"/><text x="{left + pw + 36}" y="{ly}">{escape(name)}</text>'
        )
    if highlight and math.isfinite(highlight[0]) and math.isfinite(highlight[1]):
        hx, hy = sx(highlight[0]), sy(highlight[1])
        out.append(
            f'<circle cx="{hx:.1f}" cy="{hy:.1f}" r="7" fill="none" stroke="#000" stroke-width="2">'
            f"<title>{escape(highlight[2])}</title></circle>"
        )
        ly = top + 14 + 18 * len(curves)
        out.append(
            f'<circle cx="{left + pw + 22}" cy="{ly - 4}" r="6" fill="none" stroke="#000" stroke-width="2"/>'
            f'<text x="{left + pw + 36}" y="{ly}">current setting</text>'
        )
    out.append("</svg>")
    return "".join(out)


def histogram_chart(before: np.ndarray, after: np.ndarray, *, width: int = 620, panel_height: int = 110) -> str:
    """Per-channel histograms before (filled area) and after (dark spikes) quantization, one panel per channel.

    Heights are the square root of each value's share of the pixels, so both the original's spread and the
    quantized image's few tall spikes stay visible.

    Args:
        before, after: (C, 256) counts from :func:`qfast.dashboard.pictures.histograms`.
    """
    c = before.shape[0]
    cols = CHANNEL_COLOURS.get(c, COLOURS)
    names = CHANNEL_NAMES.get(c, tuple(f"channel {i}" for i in range(c)))
    left, top, gap = 40, 8, 22
    pw = width - left - 10
    height = top + c * (panel_height + gap) + 14
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        'font-family="sans-serif" font-size="11" role="img"><title>Histograms before and after</title>'
    ]
    for ch in range(c):
        y_top = top + ch * (panel_height + gap)
        total = max(1, int(before[ch].sum()))
        b = np.sqrt(before[ch] / total)
        a = np.sqrt(after[ch] / max(1, int(after[ch].sum())))
        peak = max(float(b.max()), float(a.max()), 1e-9)
        base = y_top + panel_height

        def x(v: float) -> float:
            return left + (v + 0.5) / 256 * pw

        area = " ".join(f"{x(v):.1f},{base - b[v] / peak * panel_height:.1f}" for v in range(256))
        out.append(f'<rect x="{left}" y="{y_top}" width="{pw}" height="{panel_height}" fill="#fff" stroke="#bbb"/>')
        out.append(
            f'<polygon points="{x(0):.1f},{base} {area} {x(255):.1f},{base}" fill="{cols[ch % len(cols)]}" '
            'fill-opacity="0.35" stroke="none"/>'
        )
        for v in np.nonzero(after[ch])[0].tolist():
            h = a[v] / peak * panel_height
            out.append(
                f'<line x1="{x(v):.1f}" y1="{base}" x2="{x(v):.1f}" y2="{base - h:.1f}" '
                f'stroke="{cols[ch % len(cols)]}" stroke-width="1.6"/>'
            )
        out.append(f'<text x="{left + 4}" y="{y_top + 13}">{names[ch]}: area = original, lines = quantized</text>')
        for t in (0, 64, 128, 192, 255):
            out.append(f'<text x="{x(t):.1f}" y="{base + 12}" text-anchor="middle" fill="#666">{t}</text>')
    out.append("</svg>")
    return "".join(out)
