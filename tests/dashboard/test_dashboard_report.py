"""The HTML the dashboard shows and the offline report is made of: the views' fragments and the report itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

import qfast
from qfast.dashboard import quantization, report, views
from qfast.dashboard.settings import Settings


@pytest.fixture(scope="module")
def img() -> np.ndarray:
    return qfast.samples.load()


@pytest.fixture
def small() -> np.ndarray:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[0:48, 0:64]
    base = np.stack([x * 4, y * 5, (x + y) * 2], axis=2)
    return (base + rng.integers(0, 20, base.shape)).clip(0, 255).astype(np.uint8)


def test_views_render(small):
    r = quantization.quantize(small, Settings(bits=2))
    html = views.swipe(small, r.image, zoom="2:1", controls=True)
    assert 'class="qf-after"' in html and "width:128px" in html and "<select" in html
    assert views.swipe(small, r.image, original_src="data:x").count("data:x") == 1
    assert "computing..." in views.metrics_table(small, r, ssim_pending=True)
    m = views.metrics_table(small, r)
    assert f'data-psnr="{r.psnr:.4f}"' in m and "bpp" in m
    lad = views.ladder(small, [r], current=r.settings)
    assert lad.count("<figure") == 2 and "3px solid" in lad
    assert "qf-heat" in views.heat_map(small, r, width=32)
    assert (
        views.fmt_db(math.inf) == "inf (exact)" and views.fmt_bytes(1500) == "1.5 kB" and views.fmt_bytes(None) == "n/a"
    )
    assert "&lt;b&gt;" in views.note("<b>")
    assert views.swatches(np.array([[1, 2, 3], [255, 0, 16]], np.uint8)).count("#ff0010") == 2


def test_report_is_self_contained(img):
    html = report.build_report(img, Settings(method="lloyd-max", bits=3), name="parrots <test>")
    assert html.startswith("<!DOCTYPE html>") and "parrots &lt;test&gt;" in html
    for needle in ('src="http', "src='http", 'href="http', "href='http", "@import", "url(http", "<script"):
        assert needle not in html
    for section in ("Comparison", "Quantization error", "Histograms", "The ladder", "Rate and distortion"):
        assert f"<h2>{section}</h2>" in html
    assert html.count("<figure") == 5 and "lloyd-max, 3 bits" in html
