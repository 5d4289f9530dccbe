"""16-bit input as a user meets it: qfast's quantizers work on 8 bits per channel, and where a 16-bit image arrives
(a uint16 array, a 16-bit PNG or TIFF, grey or RGB) it says so, with the conversion to use, instead of clipping or
silently truncating; the report shows it converted, with a note."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


def png16(a: np.ndarray) -> bytes:
    """A 16-bit PNG (grey or RGB) written by hand: Pillow cannot write 16-bit RGB."""
    h, w = a.shape[:2]

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\0" + a[y].astype(">u2").tobytes() for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2 if a.ndim == 3 else 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


RGB16 = (np.arange(32 * 48 * 3).reshape(32, 48, 3) * 13 % 65536).astype(np.uint16)


def test_uint16_array_says_what_to_do():
    with pytest.raises(TypeError, match=r"uint16.*8 bits per channel.*>> 8"):
        qfast.quantize_uniform(RGB16, 8)


@pytest.mark.parametrize("kind", ["grey", "rgb"])
@pytest.mark.parametrize(
    "cmd", [["quantize", "--bits", "3"], ["palette", "--colors", "8"], ["encode", "--levels", "8"]]
)
def test_16_bit_png_is_refused_clearly(tmp_path, capsys, kind, cmd):
    src = tmp_path / "in16.png"
    src.write_bytes(png16(RGB16 if kind == "rgb" else RGB16[..., 0]))
    out = tmp_path / ("o.qfz" if cmd[0] == "encode" else "o.png")
    assert main([cmd[0], str(src), "-o", str(out), *cmd[1:]]) == 1
    err = capsys.readouterr().err
    assert "16-bit" in err and "8 bits" in err and err.count("\n") == 1 and not out.exists(), err


def test_16_bit_tiff_is_refused_clearly(tmp_path, capsys):
    tifffile = pytest.importorskip("tifffile")
    src = tmp_path / "in16.tif"
    tifffile.imwrite(src, RGB16)
    assert main(["quantize", str(src), "-o", str(tmp_path / "o.png"), "--bits", "3"]) == 1
    assert "16-bit" in capsys.readouterr().err


def test_report_notes_16_bit_rgb(tmp_path, capsys):
    src = tmp_path / "in16.png"
    src.write_bytes(png16(RGB16))
    out = tmp_path / "r.html"
    assert main(["report", str(src), "-o", str(out)]) == 0, capsys.readouterr().err
    assert "16-bit" in out.read_text("utf-8")
    from qfast.dashboard.upload import load_upload

    img, note = load_upload("in16.png", src.read_bytes())
    assert "16-bit" in note
    with Image.open(io.BytesIO(src.read_bytes())) as im:
        assert im.mode == "RGB"
