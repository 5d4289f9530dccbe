"""``qfast palette``'s native path (PNG file to indexed PNG in Rust, no NumPy or Pillow in the process): the same
image, palette and summary as :func:`qfast.quantize_colors` on the file as Pillow reads it, and the general path for
everything it does not take."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast._io import LOSSY_EXTENSIONS
from qfast.cli import main
from qfast.cli import palette as palette_cli
from qfast.cli._args import psnr_text


def _photo(shape_mode: str, tmp_path, **save):
    rgb = qfast.samples.load("parrots")[::4, ::4]
    im = Image.fromarray(rgb)
    if shape_mode == "P":
        im = im.quantize(40)
    elif shape_mode == "P1":  # a 1-bit palette file
        im = im.convert("1").convert("P")
    elif shape_mode == "RGBA":  # an alpha channel, all opaque
        im = im.convert("RGBA")
    elif shape_mode != "RGB":
        im = im.convert(shape_mode)
    p = tmp_path / f"in-{shape_mode}.png"
    im.save(p, **save)
    return p


def _as_read(path):
    """The file as the general path reads it."""
    with Image.open(path) as im:
        im.load()
        return qfast._validate.as_image(im)


def _run_native(args: list[str]) -> subprocess.CompletedProcess:
    """The command in a fresh interpreter that fails if NumPy or Pillow got imported (the path was not native)."""
    code = (
        "import sys, qfast.cli\n"
        f"rc = qfast.cli.main({args!r})\n"
        "assert 'numpy' not in sys.modules and 'PIL' not in sys.modules, 'not the native path'\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("mode", ["RGB", "L", "LA", "RGBA", "P", "P1"])
@pytest.mark.parametrize("k", [2, 5, 16, 17, 256])
def test_same_result_as_quantize_colors(tmp_path, mode, k):
    src = _photo(mode, tmp_path)
    out = tmp_path / "out.png"
    r = _run_native(["palette", str(src), "-o", str(out), "--colors", str(k)])
    assert r.returncode == 0, r.stderr
    img = _as_read(src)
    q = qfast.quantize_colors(img, k)
    with Image.open(out) as im:
        assert im.mode == "P" and "transparency" not in im.info
        got = np.asarray(im.convert("RGB"))
        depth = out.read_bytes()[24]  # IHDR's bit depth
    want = q.image()
    want_rgb = np.repeat(want[..., :1], 3, axis=2) if want.ndim == 3 and want.shape[2] == 2 else want
    if want_rgb.ndim == 2:
        want_rgb = np.stack([want_rgb] * 3, axis=2)
    np.testing.assert_array_equal(got, want_rgb[..., :3])
    n = len(q.palette)
    assert depth == (1 if n <= 2 else 2 if n <= 4 else 4 if n <= 16 else 8)  # as Pillow writes palettes
    assert r.stdout.strip() == f"{out}: {n} colours, {psnr_text(img, want)}"


@pytest.mark.parametrize(
    "extra",
    [
        ["--dither", "floyd-steinberg"],
        ["--dither", "atkinson"],
        ["--dither", "bayer8"],
        ["--color-space", "oklab"],
        ["--method", "median-cut"],
        ["--method", "kmeans++", "--seed", "7"],
    ],
)
def test_options_give_the_same_result(tmp_path, extra):
    src = _photo("RGB", tmp_path)
    out = tmp_path / "out.png"
    r = _run_native(["palette", str(src), "-o", str(out), "--colors", "24", "-q", *extra])
    assert r.returncode == 0 and r.stdout == "", r.stderr
    opts = dict(zip([a.lstrip("-").replace("-", "_") for a in extra[::2]], extra[1::2]))
    if "seed" in opts:
        opts["seed"] = int(opts["seed"])
    q = qfast.quantize_colors(_as_read(src), 24, **opts)
    np.testing.assert_array_equal(np.asarray(Image.open(out).convert("RGB")), q.image())


def test_transparency_takes_the_general_path(tmp_path):
    rgba = np.dstack([qfast.samples.load("parrots")[::4, ::4], np.full((128, 192), 255, np.uint8)])
    rgba[:10, :, 3] = 0
    src = tmp_path / "alpha.png"
    Image.fromarray(rgba).save(src)
    out = tmp_path / "out.png"
    assert main(["palette", str(src), "-o", str(out), "--colors", "16", "-q"]) == 0
    with Image.open(out) as im:
        assert "transparency" in im.info  # an RGBA palette: tRNS, which only the general path writes
    r = _run_native(["palette", str(src), "-o", str(tmp_path / "again.png"), "--colors", "16", "-q", "--force"])
    assert r.returncode == 1 and "not the native path" in r.stderr


@pytest.mark.parametrize("damage", ["truncated", "idat", "crc"])
def test_damaged_png_is_handled_as_the_general_path_does(tmp_path, capsys, monkeypatch, damage):
    good = _photo("RGB", tmp_path).read_bytes()
    at = {"idat": len(good) // 2, "crc": len(good) - 16}.get(damage)  # IEND is the last 12 bytes
    bad = good[: len(good) // 2] if at is None else good[:at] + bytes([good[at] ^ 0xFF]) + good[at + 1 :]
    src = tmp_path / "bad.png"
    src.write_bytes(bad)
    results = []
    for native in (True, False):
        if not native:
            monkeypatch.setattr(palette_cli, "_native_png", lambda args: None)
        out = tmp_path / f"out-{native}.png"
        rc = main(["palette", str(src), "-o", str(out), "--colors", "16", "-q"])
        err = capsys.readouterr().err.replace(str(out), "OUT")
        results.append((rc, err, np.asarray(Image.open(out).convert("RGB")) if out.exists() else None))
    (rc, err, img), (rc0, err0, img0) = results
    assert (rc, err) == (rc0, err0)
    if damage == "truncated":
        assert rc == 1 and err.startswith(f"qfast: error: {src}: ") and err.count("\n") == 1
    if img0 is None:
        assert img is None
    else:
        np.testing.assert_array_equal(img, img0)


def test_sixteen_bit_png_gets_the_general_paths_refusal(tmp_path, capsys):
    src = tmp_path / "deep.png"
    Image.fromarray(np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) * 16).save(src)
    rc = main(["palette", str(src), "-o", str(tmp_path / "out.png"), "--colors", "16"])
    assert rc == 1 and "16" in capsys.readouterr().err


def test_skip_if_larger_and_no_overwrite_hold_on_the_native_path(tmp_path):
    src = tmp_path / "flat.png"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(src, optimize=True)
    out = tmp_path / "out.png"
    r = _run_native(["palette", str(src), "-o", str(out), "--colors", "256", "--skip-if-larger"])
    assert r.returncode == 98 and not out.exists()
    out.write_bytes(b"mine")
    r = _run_native(["palette", str(src), "-o", str(out), "--colors", "4"])
    assert r.returncode == 1 and "exists" in r.stderr and out.read_bytes() == b"mine"


def test_lossy_extensions_are_pillows():
    Image.init()
    lossy = {e for e, f in Image.registered_extensions().items() if f in ("JPEG", "JPEG2000", "MPO")}
    assert LOSSY_EXTENSIONS == lossy
