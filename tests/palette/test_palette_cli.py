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
    # one of --colors, --sweep, --quality or --palette-from; said in one line
    assert main(["palette", str(photo), "-o", str(tmp_path / "o.png")]) == 1
    assert "give --colors K, --sweep K,K,..., --quality MIN-MAX or --palette-from IMAGE" in capsys.readouterr().err


# ---------------------------------------------------------------- transparency, quality, size


@pytest.fixture()
def rgba_photo(tmp_path):
    rgb = qfast.samples.load("parrots")[::4, ::4]
    h, w = rgb.shape[:2]
    a = np.tile(np.linspace(0, 255, w).round().astype(np.uint8), (h, 1))
    a[:, : w // 8] = 0
    p = tmp_path / "rgba.png"
    Image.fromarray(np.dstack([rgb, a])).save(p)
    return p


def test_rgba_input_writes_a_png_with_trns(rgba_photo, tmp_path):
    out = tmp_path / "out.png"
    assert main(["palette", str(rgba_photo), "-o", str(out), "--colors", "16"]) == 0
    src = np.asarray(Image.open(rgba_photo))
    q = qfast.quantize_colors(src, 16)
    with Image.open(out) as im:
        assert im.mode == "P" and isinstance(im.info.get("transparency"), bytes)
        back = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(back, q.image())
    assert (back[src[..., 3] == 0, 3] == 0).all()


def test_alpha_keep_writes_the_colours_alone(rgba_photo, tmp_path):
    out = tmp_path / "out.png"
    assert main(["palette", str(rgba_photo), "-o", str(out), "--colors", "16", "--alpha", "keep"]) == 0
    with Image.open(out) as im:
        assert im.mode == "P" and "transparency" not in im.info


def test_gif_with_partial_transparency_notes_the_rule(rgba_photo, tmp_path, capsys):
    out = tmp_path / "out.gif"
    assert main(["palette", str(rgba_photo), "-o", str(out), "--colors", "16"]) == 0
    err = capsys.readouterr().err
    assert "GIF has no partial transparency: palette entries with alpha below 128 are transparent" in err
    assert len(err.strip().splitlines()) == 1
    src = np.asarray(Image.open(rgba_photo))
    want = qfast.quantize_colors(src, 16).image()[..., 3] < 128
    with Image.open(out) as im:
        assert im.format == "GIF" and "transparency" in im.info
        back = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(back[..., 3] == 0, want)
    assert (back[~want, 3] == 255).all()


def test_gif_with_on_off_transparency_has_no_note(tmp_path, capsys):
    img = np.zeros((16, 16, 4), np.uint8)
    img[..., :3] = 200
    img[4:12, 4:12] = (10, 20, 30, 255)
    img[:, :3, 3] = 255
    p = tmp_path / "in.png"
    Image.fromarray(img).save(p)
    out = tmp_path / "out.gif"
    assert main(["palette", str(p), "-o", str(out), "--colors", "4"]) == 0
    assert "note" not in capsys.readouterr().err
    with Image.open(out) as im:
        back = np.asarray(im.convert("RGBA"))
    np.testing.assert_array_equal(back[..., 3], img[..., 3])
    np.testing.assert_array_equal(back[img[..., 3] == 255], img[img[..., 3] == 255])


def test_quality_picks_the_fewest_colours(photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["palette", str(photo), "-o", str(out), "--quality", "30-60"]) == 0
    assert "quality" in capsys.readouterr().out
    src = np.asarray(Image.open(photo).convert("RGB"))
    with Image.open(out) as im:
        n = len(im.getcolors(256))
        back = np.asarray(im.convert("RGB"))
    assert 1 < n < 256
    np.testing.assert_array_equal(back, qfast.quantize_colors(src, quality=(30, 60)).image())


def test_quality_below_the_minimum_exits_99(photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["palette", str(photo), "-o", str(out), "--quality", "95-100", "--colors", "4"]) == 99
    err = capsys.readouterr().err
    assert "--quality: 4 colours reach quality" in err and "below the minimum 95" in err
    assert not out.exists()


@pytest.mark.parametrize("text", ["80-65", "50-101", "abc", "70"])
def test_bad_quality_names_the_option(photo, tmp_path, capsys, text):
    with pytest.raises(SystemExit) as e:
        main(["palette", str(photo), "-o", str(tmp_path / "o.png"), f"--quality={text}"])
    assert e.value.code == 2
    assert "--quality" in capsys.readouterr().err


def test_skip_if_larger_exits_98_and_writes_nothing(tmp_path, capsys):
    # A smooth gradient: tiny as a filtered RGB PNG, larger as an indexed one with a full palette.
    ramp = np.tile(np.arange(256, dtype=np.uint8), (4, 1))
    p = tmp_path / "ramp.png"
    Image.fromarray(np.dstack([ramp, ramp[:, ::-1], ramp])).save(p, optimize=True)
    out = tmp_path / "out.png"
    assert main(["palette", str(p), "-o", str(out), "--colors", "256", "--skip-if-larger"]) == 98
    assert "not written" in capsys.readouterr().err
    assert not out.exists()
    # Without the option the same file is written (and is indeed larger).
    assert main(["palette", str(p), "-o", str(out), "--colors", "256"]) == 0
    assert out.stat().st_size > p.stat().st_size


def test_skip_if_larger_writes_a_smaller_result(photo, tmp_path):
    out = tmp_path / "out.png"
    assert main(["palette", str(photo), "-o", str(out), "--colors", "16", "--skip-if-larger"]) == 0
    assert out.stat().st_size < photo.stat().st_size


def test_posterize(photo, tmp_path, capsys):
    out = tmp_path / "out.png"
    assert main(["palette", str(photo), "-o", str(out), "--colors", "32", "--posterize", "4"]) == 0
    with Image.open(out) as im:
        used = {c for _, c in im.convert("RGB").getcolors(256)}
    assert used and all(v % 17 == 0 for c in used for v in c)
    assert main(["palette", str(photo), "-o", str(tmp_path / "o2.png"), "--colors", "8", "--posterize", "6"]) == 1
    assert "--posterize: expected 0..4, got 6" in capsys.readouterr().err


def test_palette_from_an_indexed_png_with_trns_keeps_its_alpha(rgba_photo, tmp_path):
    indexed = tmp_path / "indexed.png"
    assert main(["palette", str(rgba_photo), "-o", str(indexed), "--colors", "12"]) == 0
    out = tmp_path / "out.png"
    assert main(["palette", str(rgba_photo), "-o", str(out), "--palette-from", str(indexed)]) == 0
    src = np.asarray(Image.open(rgba_photo))
    pal = qfast.quantize_colors(src, 12).palette
    with Image.open(out) as im:
        back = np.asarray(im.convert("RGBA"))
        assert isinstance(im.info.get("transparency"), bytes)
    d = qfast.remap(src, pal)
    np.testing.assert_array_equal(back, pal[d])


def test_sweep_gif_of_rgba_notes_once(rgba_photo, tmp_path, capsys):
    out = tmp_path / "sweep.gif"
    assert main(["palette", str(rgba_photo), "--sweep", "4,8,16", "-o", str(out)]) == 0
    assert capsys.readouterr().err.count("GIF has no partial transparency") == 1
    with Image.open(out) as im:
        assert im.n_frames == 3 and "transparency" in im.info


def test_palette_from_refuses_quality_and_posterize(rgba_photo, tmp_path, capsys):
    indexed = tmp_path / "indexed.png"
    assert main(["palette", str(rgba_photo), "-o", str(indexed), "--colors", "8"]) == 0
    out = tmp_path / "out.png"
    assert main(["palette", str(rgba_photo), "-o", str(out), "--palette-from", str(indexed), "--posterize", "2"]) == 1
    assert "--palette-from: not with --quality or --posterize" in capsys.readouterr().err
