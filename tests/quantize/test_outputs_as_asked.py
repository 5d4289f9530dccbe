"""Every option changes the result or is an error naming the flag, and every output holds what was asked: a GIF
that cannot hold the colours, or a JPEG that would blur exact levels, is an error rather than a silent change."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture
def png(tmp_path, photo):
    p = tmp_path / "in.png"
    Image.fromarray(photo[:128, :192]).save(p)
    return p


def test_gif_over_256_colours_is_an_error(photo, tmp_path, capsys):
    png, out = tmp_path / "whole.png", tmp_path / "q.gif"
    Image.fromarray(photo).save(png)
    assert len(np.unique(qfast.quantize_uniform(photo, bits=4).reshape(-1, 3), axis=0)) > 256
    assert main(["quantize", str(png), "-o", str(out), "--bits", "4"]) == 1
    err = capsys.readouterr().err
    assert "GIF holds at most 256 colours" in err and "--bits" not in err and not out.exists()


def test_gif_that_fits_is_exact(png, tmp_path):
    out = tmp_path / "q.gif"
    assert main(["quantize", str(png), "-o", str(out), "--bits", "2"]) == 0
    with Image.open(png) as im:
        want = qfast.quantize_uniform(im, bits=2)
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im.convert("RGB")), want)


@pytest.mark.parametrize("cmd", [["quantize", "--bits", "3"], ["palette", "--colors", "16"]])
def test_jpeg_cannot_hold_exact_levels(png, tmp_path, capsys, cmd):
    out = tmp_path / "q.jpg"
    assert main([cmd[0], str(png), "-o", str(out), *cmd[1:]]) == 1
    assert "JPEG" in capsys.readouterr().err and not out.exists()


@pytest.mark.parametrize("method", ["lloyd-max", "mu-law"])
def test_reconstruction_only_with_uniform(png, tmp_path, capsys, method):
    out = tmp_path / "q.png"
    args = ["quantize", str(png), "-o", str(out), "--bits", "3", "--method", method]
    assert main([*args, "--reconstruction", "full-range"]) == 1
    assert "--reconstruction: only with --method uniform" in capsys.readouterr().err
    assert main(args) == 0


def test_report_colors_only_with_palette(png, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert main(["report", str(png), "-o", str(out), "--method", "lloyd-max", "--colors", "8"]) == 1
    assert "--colors: only with --method palette" in capsys.readouterr().err
    assert main(["report", str(png), "-o", str(out), "--method", "palette", "--colors", "1"]) == 1
    assert "--colors: expected 2..256, got 1" in capsys.readouterr().err
    assert not out.exists()
