"""The ``qfast palette`` command."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture()
def photo(tmp_path):
    p = tmp_path / "in.png"
    Image.fromarray(qfast.samples.load("parrots")[::4, ::4]).save(p)
    return p


def test_writes_an_indexed_png(photo, tmp_path):
    out = tmp_path / "out.png"
    assert main(["palette", str(photo), "-o", str(out), "--colors", "12"]) == 0
    with Image.open(out) as im:
        assert im.mode == "P"
        used = np.unique(np.asarray(im))
        assert used.max() < 12
        rgb = np.asarray(im.convert("RGB"))
    src = np.asarray(Image.open(photo).convert("RGB"))
    np.testing.assert_array_equal(rgb, qfast.quantize_colors(src, 12).image())


def test_dither_and_colour_space_options_write_a_gif(photo, tmp_path):
    out = tmp_path / "out.gif"
    args = [
        "palette",
        str(photo),
        "-o",
        str(out),
        "--colors",
        "8",
        "--dither",
        "floyd-steinberg",
        "--color-space",
        "oklab",
    ]
    assert main(args) == 0
    with Image.open(out) as im:
        assert im.format == "GIF" and im.mode == "P" and im.size == (192, 128)


def test_sweep_writes_an_animated_gif(photo, tmp_path):
    out = tmp_path / "sweep.gif"
    assert main(["palette", str(photo), "--sweep", "1,5,10,20,40", "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.n_frames == 5
        colours = []
        for i in range(5):
            im.seek(i)
            colours.append(len(np.unique(np.asarray(im.convert("RGB")).reshape(-1, 3), axis=0)))
    assert colours[0] == 1 and colours == sorted(colours) and colours[-1] > 20


def test_refuses_to_overwrite(photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"keep")
    assert main(["palette", str(photo), "-o", str(out), "--colors", "4"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
    assert main(["palette", str(photo), "-o", str(out), "--colors", "4", "--force"]) == 0
    with Image.open(out) as im:
        assert im.mode == "P"


def test_bad_colour_count(photo, tmp_path, capsys):
    assert main(["palette", str(photo), "-o", str(tmp_path / "o.png"), "--colors", "300"]) == 1
    assert "--colors: expected 1..256, got 300" in capsys.readouterr().err


def test_missing_input(tmp_path, capsys):
    assert main(["palette", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.png"), "--colors", "4"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_needs_colors_or_sweep(photo, tmp_path, capsys):
    # one of --colors, --sweep, --quality or --palette-from; said in one line
    assert main(["palette", str(photo), "-o", str(tmp_path / "o.png")]) == 1
    assert "give --colors K, --sweep K,K,..., --quality MIN-MAX or --palette-from IMAGE" in capsys.readouterr().err
