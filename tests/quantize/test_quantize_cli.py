"""``qfast quantize``, run as a user would (the installed entry point) and in-process."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


def run(*args, cwd=None):
    exe = shutil.which("qfast")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "qfast", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


@pytest.fixture
def png(tmp_path, photo):
    p = tmp_path / "in.png"
    Image.fromarray(photo).save(p)
    return p


def read(p):
    with Image.open(p) as im:
        return np.asarray(im)


@pytest.mark.parametrize(
    "args,expected",
    [
        (["--levels", "5"], lambda x: qfast.quantize_uniform(x, 5)),
        (
            ["--bits", "2", "--reconstruction", "full-range"],
            lambda x: qfast.quantize_uniform(x, bits=2, reconstruction="full-range"),
        ),
        (["--levels", "8,4,2"], lambda x: qfast.quantize_uniform(x, [8, 4, 2])),
        (["--bits", "3", "--method", "lloyd-max"], lambda x: qfast.quantize_lloyd_max(x, bits=3).image()),
        (["--levels", "16", "--method", "mu-law"], lambda x: qfast.quantize_mu_law(x, 16).image()),
    ],
)
def test_quantize_writes_what_the_api_computes(png, tmp_path, photo, args, expected):
    out = tmp_path / "out.png"
    r = run("quantize", str(png), "-o", str(out), *args)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(read(out), expected(photo))


def test_never_overwrites_without_force(png, tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    r = run("quantize", str(png), "-o", str(out), "--bits", "2")
    assert r.returncode != 0
    assert "already exists" in r.stderr and "--force" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert out.read_bytes() == b"precious"
    r = run("quantize", str(png), "-o", str(out), "--bits", "2", "--force")
    assert r.returncode == 0
    assert read(out).shape == (512, 768, 3)


@pytest.mark.parametrize(
    "make_args,needle",
    [
        (lambda d, p: ["quantize", str(d / "missing.png"), "-o", str(d / "o.png"), "--bits", "2"], "no such file"),
        (lambda d, p: ["quantize", str(d / "junk.png"), "-o", str(d / "o.png"), "--bits", "2"], "not an image"),
        (lambda d, p: ["quantize", str(p), "-o", str(d / "o.png"), "--levels", "1"], "levels: expected 2..256"),
        (lambda d, p: ["quantize", str(p), "-o", str(d / "o.png"), "--bits", "9"], "bits: expected 1..8"),
        (lambda d, p: ["quantize", str(p), "-o", str(d / "o.png"), "--levels", "4,4"], "one value per channel"),
        (lambda d, p: ["quantize", str(p), "-o", str(d / "o.xyz"), "--levels", "4"], "unknown image format"),
        (lambda d, p: ["quantize", str(p), "-o", str(d / "nodir" / "o.png"), "--levels", "4"], "no such folder"),
    ],
)
def test_bad_input_is_one_line_and_non_zero(tmp_path, png, make_args, needle):
    (tmp_path / "junk.png").write_text("this is not an image")
    r = run(*make_args(tmp_path, png))
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], r.stderr
    assert not (tmp_path / "o.png").exists()


def test_argument_errors_exit_non_zero(png, tmp_path):
    r = run("quantize", str(png), "-o", str(tmp_path / "o.png"))  # neither --levels nor --bits
    assert r.returncode == 2 and "one of the arguments --levels --bits is required" in r.stderr
    r = run("quantize", str(png), "-o", str(tmp_path / "o.png"), "--levels", "x")
    assert r.returncode == 2


def test_written_files_get_the_usual_permissions(png, tmp_path):
    import os

    out = tmp_path / "perm.png"
    assert main(["quantize", str(png), "-o", str(out), "--bits", "1"]) == 0
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def zlib_levels(path) -> set[int]:
    """The FLEVEL field (RFC 1950: 0 fastest, 1 fast, 2 default, 3 maximum) of a PNG's zlib stream, read from the
    first IDAT chunk's first two bytes."""
    data = path.read_bytes()
    at = data.index(b"IDAT") + 4
    cmf, flg = data[at], data[at + 1]
    assert cmf & 0x0F == 8 and (cmf * 256 + flg) % 31 == 0, "not a zlib stream"
    return {flg >> 6}


def test_quantized_pngs_are_written_at_the_fast_level_and_corrected_ones_at_the_default(png, tmp_path, photo):
    # Level 4 (qfast._io.QUANTIZED_PNG_LEVEL) is zlib's "fast" class (2..5); Pillow's default 6 is "default".
    out = tmp_path / "q.png"
    assert run("quantize", str(png), "-o", str(out), "--bits", "3").returncode == 0
    assert zlib_levels(out) == {1}
    np.testing.assert_array_equal(read(out), qfast.quantize_uniform(photo, bits=3))
    plain = tmp_path / "plain.png"
    Image.fromarray(qfast.quantize_uniform(photo, bits=3)).save(plain)
    assert zlib_levels(plain) == {2}, "the reference: Pillow's default level"
    corrected = tmp_path / "c.png"
    assert run("quantize", str(png), "-o", str(corrected), "--bits", "3", "--correct").returncode == 0
    assert zlib_levels(corrected) == {2}
