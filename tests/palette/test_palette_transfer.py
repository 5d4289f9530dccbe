"""Palette transfer as a user meets it: ``qfast palette IN --palette-from IMAGE`` (an indexed image's palette, or
K k-means colours of any image) and ``qfast.remap`` taking a PIL "P" image as the palette."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture
def images(tmp_path):
    a = np.ascontiguousarray(qfast.samples.load("parrots")[:64, :96])
    b = np.ascontiguousarray(qfast.samples.load("hats")[:64, :96])
    pa, pb = tmp_path / "a.png", tmp_path / "b.png"
    Image.fromarray(a).save(pa)
    Image.fromarray(b).save(pb)
    indexed = tmp_path / "b16.png"
    qfast.quantize_colors(b, 16).to_pil().save(indexed)
    return a, b, pa, pb, indexed


def test_remap_takes_a_p_image(images):
    a, b, *_, indexed = images
    q = qfast.quantize_colors(b, 16)
    with Image.open(indexed) as im:
        idx = qfast.remap(a, im)
    np.testing.assert_array_equal(idx, qfast.remap(a, q.palette))


def test_cli_palette_from_an_indexed_image(images, tmp_path, capsys):
    a, b, pa, _, indexed = images
    out = tmp_path / "t.png"
    assert main(["palette", str(pa), "-o", str(out), "--palette-from", str(indexed)]) == 0
    assert "16 colours from" in capsys.readouterr().out
    pal = qfast.quantize_colors(b, 16).palette
    with Image.open(out) as im:
        got = np.asarray(im.convert("RGB"))
    np.testing.assert_array_equal(got, pal[qfast.remap(a, pal)])


def test_cli_palette_from_any_image_with_colors(images, tmp_path):
    a, b, pa, pb, _ = images
    out = tmp_path / "t.png"
    assert main(["palette", str(pa), "-o", str(out), "--palette-from", str(pb), "--colors", "8"]) == 0
    pal = qfast.kmeans_palette(b, 8)
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), pal[qfast.remap(a, pal)])


def test_cli_palette_from_a_photo_without_colors_says_what_to_do(images, tmp_path, capsys):
    _, _, pa, pb, _ = images
    assert main(["palette", str(pa), "-o", str(tmp_path / "t.png"), "--palette-from", str(pb)]) == 1
    err = capsys.readouterr().err
    assert "--palette-from" in err and "--colors K" in err and err.count("\n") == 1
