"""Dithering for bit-depth reduction, as a user meets it: ``quantize_uniform(..., dither=...)`` and ``qfast quantize
--dither``; the ordered kinds equal a plain NumPy reference exactly, error diffusion keeps local means."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


def bayer(n: int) -> np.ndarray:
    m = np.zeros((1, 1), np.int64)
    while m.shape[0] < n:
        m = np.block([[4 * m, 4 * m + 2], [4 * m + 3, 4 * m + 1]])
    return m


def ref_ordered(img: np.ndarray, levels: list[int], n: int) -> np.ndarray:
    x = img.astype(np.int64).reshape(img.shape[0], img.shape[1], -1)
    h, w = x.shape[:2]
    t = np.tile(bayer(n), (h // n + 1, w // n + 1))[:h, :w, None]
    L = np.array(levels, np.int64)
    nn = n * n
    idx = np.floor_divide(2 * nn * x * L + 256 * (2 * t + 1) - 256 * nn, 512 * nn)
    idx = np.clip(idx, 0, L - 1)
    idx = np.where(L == 256, x, idx)
    return idx.astype(np.uint8).reshape(img.shape)


@pytest.mark.parametrize("kind,n", [("bayer4", 4), ("bayer8", 8)])
@pytest.mark.parametrize("levels", [2, 4, 7, 32, [4, 8, 2]])
def test_ordered_matches_numpy(photo, kind, n, levels):
    img = np.ascontiguousarray(photo[:61, :83])
    lv = [levels] * 3 if isinstance(levels, int) else levels
    want = ref_ordered(img, lv, n)
    np.testing.assert_array_equal(qfast.uniform_indices(img, levels, dither=kind), want)
    for rec in ("midpoint", "full-range"):
        np.testing.assert_array_equal(
            qfast.quantize_uniform(img, levels, dither=kind, reconstruction=rec),
            qfast.dequantize_uniform(want, levels, reconstruction=rec),
        )


def test_ordered_grey_and_alpha_untouched(photo):
    grey = np.ascontiguousarray(photo[:40, :50, 1])
    np.testing.assert_array_equal(qfast.uniform_indices(grey, 4, dither="bayer4"), ref_ordered(grey, [4], 4))
    rgba = np.dstack([photo[:40, :50], np.full((40, 50), 255, np.uint8)])
    out = qfast.quantize_uniform(rgba, bits=2, dither="bayer8")
    assert (out[..., 3] == 255).all()
    out = qfast.quantize_uniform(rgba, bits=2, dither="floyd-steinberg")
    assert (out[..., 3] == 255).all()


def test_dithering_removes_banding_of_a_ramp():
    ramp = np.tile(np.arange(256, dtype=np.uint8), (64, 1))

    def local_means(a):  # means over 8 x 8 blocks, as the eye averages at a distance
        return a.astype(float).reshape(8, 8, 32, 8).mean(axis=(1, 3))

    want = local_means(ramp)[:, 4:28]  # inside the range the 2-bit levels span
    plain = np.abs(local_means(qfast.quantize_uniform(ramp, bits=2))[:, 4:28] - want).mean()
    for kind in ("bayer4", "bayer8", "floyd-steinberg"):
        d = np.abs(local_means(qfast.quantize_uniform(ramp, bits=2, dither=kind))[:, 4:28] - want).mean()
        assert d < plain / 3, (kind, d, plain)


def test_bad_dither_names_the_argument(photo):
    with pytest.raises(ValueError, match="dither: expected 'none', 'bayer4'"):
        qfast.quantize_uniform(photo, 4, dither="atkinson")


def test_cli_dither(photo, tmp_path, capsys):
    src = tmp_path / "in.png"
    img = np.ascontiguousarray(photo[:64, :96])
    Image.fromarray(img).save(src)
    for kind in ("none", "bayer4", "bayer8", "floyd-steinberg"):
        out = tmp_path / f"{kind}.png"
        assert main(["quantize", str(src), "-o", str(out), "--bits", "2", "--dither", kind, "-q"]) == 0
        with Image.open(out) as im:
            np.testing.assert_array_equal(np.asarray(im), qfast.quantize_uniform(img, bits=2, dither=kind))
    assert (
        main(
            [
                "quantize",
                str(src),
                "-o",
                str(tmp_path / "x.png"),
                "--bits",
                "2",
                "--method",
                "mu-law",
                "--dither",
                "bayer4",
            ]
        )
        == 1
    )
    assert "--dither: only with --method uniform" in capsys.readouterr().err
