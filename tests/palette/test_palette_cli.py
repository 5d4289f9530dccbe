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
    assert "--colors: expected 1..256 for an indexed PNG or GIF, got 300; write .tif" in capsys.readouterr().err
    assert not (tmp_path / "o.png").exists()
    assert main(["palette", str(photo), "-o", str(tmp_path / "o.gif"), "--colors", "257"]) == 1
    assert "--colors: expected 1..256 for an indexed PNG or GIF, got 257" in capsys.readouterr().err
    assert main(["palette", str(photo), "-o", str(tmp_path / "o.tif"), "--colors", "65537"]) == 1
    assert "--colors: expected 1..65536, got 65537" in capsys.readouterr().err


def test_more_than_256_colours_in_full_colour(tmp_path):
    # A non-indexed output takes a palette of more than 256 colours: the image of that palette, in full colour.
    rng = np.random.default_rng(5)
    img = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    assert main(["palette", str(src), "-o", str(tmp_path / "o.tif"), "--colors", "300", "-q"]) == 0
    with Image.open(tmp_path / "o.tif") as im:
        out = np.asarray(im.convert("RGB"))
    colours = np.unique(out.reshape(-1, 3), axis=0)
    assert 256 < len(colours) <= 300


def test_missing_input(tmp_path, capsys):
    assert main(["palette", str(tmp_path / "none.png"), "-o", str(tmp_path / "o.png"), "--colors", "4"]) == 1
    assert "no such file" in capsys.readouterr().err


def test_needs_colors_or_sweep(photo, tmp_path, capsys):
    # one of --colors, --sweep or --palette-from; said in one line
    assert main(["palette", str(photo), "-o", str(tmp_path / "o.png")]) == 1
    assert "give --colors K, --sweep K,K,... or --palette-from IMAGE" in capsys.readouterr().err
