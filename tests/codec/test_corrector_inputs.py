"""The corrector as a user meets it: PIL images, grey and RGBA (alpha passed through) accepted; an input that is
not the mid-bin reconstruction of the levels it is told is an error that says so; ``qfast correct`` on the command
line."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture(scope="module")
def corrector():
    return qfast.Corrector()


@pytest.fixture
def small(photo):
    return np.ascontiguousarray(photo[:96, :128])


def test_pil_image_is_accepted(corrector, small):
    q = qfast.quantize_uniform(small, 8)
    np.testing.assert_array_equal(corrector.correct(Image.fromarray(q), 8), corrector.correct(q, 8))


def test_rgba_alpha_passes_through(corrector, small):
    alpha = np.tile(np.arange(128, dtype=np.uint8) * 2, (96, 1))
    q = qfast.quantize_uniform(np.dstack([small, alpha]), 8)  # alpha untouched by the quantizer
    out = corrector.correct(q, 8)
    assert out.shape == q.shape
    np.testing.assert_array_equal(out[..., 3], alpha)
    np.testing.assert_array_equal(out[..., :3], corrector.correct(np.ascontiguousarray(q[..., :3]), 8))


@pytest.mark.parametrize("shape", ["hw", "hw1"])
def test_grey_is_accepted_and_helps(corrector, small, shape):
    grey = np.ascontiguousarray(small[..., 1])
    q = qfast.quantize_uniform(grey, 8)
    x = q if shape == "hw" else q[..., None]
    out = corrector.correct(x, 8, clamp=True)
    assert out.shape == x.shape and out.dtype == np.uint8
    assert qfast.psnr(grey, out.reshape(grey.shape)) > qfast.psnr(grey, q)


@pytest.mark.parametrize(
    "make,levels",
    [
        (lambda im: im, 8),  # not quantized at all
        (lambda im: qfast.quantize_uniform(im, 8, reconstruction="full-range"), 8),
        (lambda im: qfast.quantize_uniform(im, 8), 16),  # the wrong level count
        (lambda im: qfast.quantize_uniform(im, 8), 4),
    ],
)
def test_input_off_the_grid_is_an_error(corrector, small, make, levels):
    with pytest.raises(ValueError, match="not the mid-bin reconstruction"):
        corrector.correct(make(small), levels)


def test_cli_correct(small, tmp_path, capsys, corrector):
    q = qfast.quantize_uniform(small, 8)
    src, out = tmp_path / "q.png", tmp_path / "c.png"
    Image.fromarray(q).save(src)
    assert main(["correct", str(src), "-o", str(out), "--levels", "8"]) == 0
    assert str(out) in capsys.readouterr().out
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im), corrector.correct(q, 8))
    Image.fromarray(small).save(tmp_path / "raw.png")
    assert main(["correct", str(tmp_path / "raw.png"), "-o", str(tmp_path / "x.png"), "--levels", "8"]) == 1
    err = capsys.readouterr().err
    assert "not the mid-bin reconstruction" in err and err.count("\n") == 1


def test_cli_quantize_correct(small, tmp_path, corrector, capsys):
    src, out = tmp_path / "in.png", tmp_path / "qc.png"
    Image.fromarray(small).save(src)
    assert main(["quantize", str(src), "-o", str(out), "--bits", "3", "--correct", "-q"]) == 0
    with Image.open(out) as im:
        np.testing.assert_array_equal(np.asarray(im), corrector.correct(qfast.quantize_uniform(small, bits=3), 8))
    args = ["quantize", str(src), "-o", str(tmp_path / "x.png"), "--bits", "3", "--correct"]
    assert main([*args, "--method", "mu-law"]) == 1
    assert "--correct: only with --method uniform" in capsys.readouterr().err


def test_out_writes_the_result_in_place(corrector, small):
    q = qfast.quantize_uniform(small, 8)
    want = corrector.correct(q, 8, clamp=True)  # a new array; q untouched
    assert (q == qfast.quantize_uniform(small, 8)).all()
    buf = q.copy()
    assert corrector.correct(buf, 8, clamp=True, out=buf) is buf
    np.testing.assert_array_equal(buf, want)
    # A view of an RGBA image's colour channels: alpha stays as it was.
    rgba = np.dstack([q, np.full(q.shape[:2], 99, np.uint8)])
    corrector.correct(rgba[..., :3], 8, clamp=True, out=rgba[..., :3])
    np.testing.assert_array_equal(rgba[..., :3], want)
    assert (rgba[..., 3] == 99).all()
    with pytest.raises(ValueError, match="out: expected a writeable uint8 array of shape"):
        corrector.correct(q, 8, out=np.empty((2, 2, 3), np.uint8))
    with pytest.raises(TypeError, match="out: expected a NumPy uint8 array"):
        corrector.correct(q, 8, out=np.empty(q.shape, np.float32))
