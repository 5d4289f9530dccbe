"""The "max error" a user reads (``qfast encode``'s summary, ``qfast info``, ``qfast.inspect``) is a bound that holds
for the decode they get: with the corrector, without it, and in YCbCr levels mode (where none holds, it says so)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


def _err(a, b):
    return np.abs(a.astype(int) - b.astype(int)).reshape(-1, a.shape[-1]).max(axis=0).tolist()


@pytest.fixture
def img(photo):
    return photo[:128, :192]


@pytest.mark.parametrize("opts", [{"levels": 16}, {"levels": [8, 16, 5]}, {"levels": 16, "color": "rgb"}])
def test_levels_mode_bound_holds_for_the_corrected_decode(img, opts):
    data = qfast.encode(img, **opts)
    h = qfast.inspect(data)
    assert all(e <= b for e, b in zip(_err(qfast.decode(data), img), h["bound"]))
    assert all(e <= b for e, b in zip(_err(qfast.decode(data, correct=False), img), h["bound_plain"]))
    assert h["bound_plain"] == h["max_error"]


def test_ycbcr_levels_mode_promises_no_bound(img):
    h = qfast.inspect(qfast.encode(img, target_bpp=2.5, subsample=True))
    assert h["bound"] is None and h["bound_plain"] is None


def test_bounded_mode_bound_is_max_error(img):
    h = qfast.inspect(qfast.encode(img, max_error=3))
    assert h["bound"] == h["bound_plain"] == [3, 3, 3]


def test_cli_prints_the_bound_that_holds(img, tmp_path, capsys):
    src = tmp_path / "in.png"
    Image.fromarray(img).save(src)
    qfz = tmp_path / "a.qfz"
    assert main(["encode", str(src), "-o", str(qfz), "--levels", "16"]) == 0
    out = capsys.readouterr().out
    decoded = qfast.load(qfz)
    bound = qfast.inspect(qfz)["bound"]
    assert f"max error {bound}" in out and "[8, 8, 8] without the corrector" in out
    assert all(e <= b for e, b in zip(_err(decoded, img), bound))
    assert main(["info", str(qfz)]) == 0
    info = capsys.readouterr().out
    assert f"bound         {bound}" in info
    qfz2 = tmp_path / "b.qfz"
    assert main(["encode", str(src), "-o", str(qfz2), "--target-bpp", "2.5", "--subsample"]) == 0
    out = capsys.readouterr().out
    assert "max error [" not in out and "no max error" in out
