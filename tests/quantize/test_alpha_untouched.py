"""Alpha as a user meets it: quantizing an RGBA or LA image to a few levels changes the colours, never the alpha,
unless alpha is given levels of its own (one level count per channel)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


def _rgba(photo, alpha=None):
    a = np.full(photo.shape[:2], 255, np.uint8) if alpha is None else alpha
    return np.dstack([photo[:64, :96], a[:64, :96]])


@pytest.mark.parametrize("bits", [1, 3, 4])
def test_uniform_keeps_alpha(photo, bits):
    img = _rgba(photo, np.tile(np.arange(256, dtype=np.uint8), (512, 3)))
    for rec in ("midpoint", "full-range"):
        out = qfast.quantize_uniform(img, bits=bits, reconstruction=rec)
        assert (out[..., 3] == img[..., 3]).all()
        assert (out[..., :3] == qfast.quantize_uniform(img[..., :3], bits=bits, reconstruction=rec)).all()
    assert (qfast.uniform_indices(img, bits=bits)[..., 3] == img[..., 3]).all()
    la = img[..., [0, 3]]
    assert (qfast.quantize_uniform(la, bits=bits)[..., 1] == la[..., 1]).all()


def test_opaque_stays_opaque_at_3_bits(photo):
    out = qfast.quantize_uniform(_rgba(photo), bits=3)
    assert (out[..., 3] == 255).all()


def test_alpha_levels_given_explicitly_quantize_it(photo):
    img = _rgba(photo)
    out = qfast.quantize_uniform(img, levels=[8, 8, 8, 8])
    assert (out[..., 3] == 240).all()


@pytest.mark.parametrize("method", ["lloyd_max", "mu_law"])
def test_nonuniform_keeps_alpha(photo, method):
    alpha = np.tile(np.arange(256, dtype=np.uint8), (512, 3))
    img = _rgba(photo, alpha)
    q = getattr(qfast, f"quantize_{method}")(img, 8)
    assert (q.image()[..., 3] == img[..., 3]).all()
    assert q.levels == (8, 8, 8, 256)
    ref = getattr(qfast, f"quantize_{method}")(np.ascontiguousarray(img[..., :3]), 8)
    assert (q.image()[..., :3] == ref.image()).all()
    explicit = getattr(qfast, f"quantize_{method}")(img, [8, 8, 8, 4])
    assert explicit.levels == (8, 8, 8, 4) and len(np.unique(explicit.image()[..., 3])) <= 4


def test_cli_quantize_keeps_alpha(photo, tmp_path):
    src = tmp_path / "in.png"
    Image.fromarray(_rgba(photo)).save(src)
    for method in ("uniform", "lloyd-max", "mu-law"):
        out = tmp_path / f"{method}.png"
        assert main(["quantize", str(src), "-o", str(out), "--bits", "3", "--method", method]) == 0
        with Image.open(out) as im:
            assert im.mode == "RGBA" and (np.asarray(im)[..., 3] == 255).all()


@pytest.mark.parametrize("opts", [{"levels": 16}, {"target_bpp": 2.5}, {"levels": 4}, {"max_error": 3}])
def test_codec_keeps_an_opaque_image_opaque(photo, opts):
    img = _rgba(photo)
    for correct in (None, False):
        out = qfast.decode(qfast.encode(img, **opts), correct=correct)
        assert (out[..., 3] == 255).all()


def test_codec_levels_mode_keeps_alpha_unless_given(photo):
    alpha = np.tile(np.arange(256, dtype=np.uint8), (512, 3))
    img = _rgba(photo, alpha)
    data = qfast.encode(img, levels=16)
    assert qfast.inspect(data)["levels"] == [16, 16, 16, 256]
    assert (qfast.decode(data)[..., 3] == img[..., 3]).all()
    data = qfast.encode(img, levels=[16, 16, 16, 16])
    assert qfast.inspect(data)["levels"] == [16, 16, 16, 16]
