"""The codec's command line: qfast encode, decode and info."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture
def png(tmp_path: Path) -> Path:
    p = tmp_path / "in.png"
    Image.fromarray(qfast.samples.load("parrots")[:64, :80]).save(p)
    return p


def test_encode_decode_info(png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qfz, out = tmp_path / "a.qfz", tmp_path / "out.png"
    assert main(["encode", str(png), "-o", str(qfz), "--max-error", "2"]) == 0
    assert "bpp (bounded, max error [2, 2, 2])" in capsys.readouterr().out
    assert main(["info", str(qfz)]) == 0
    text = capsys.readouterr().out
    assert "mode          bounded" in text and "coder         qac" in text and "width         80" in text
    assert main(["decode", str(qfz), "-o", str(out), "--no-correct"]) == 0
    src, dec = np.asarray(Image.open(png)), np.asarray(Image.open(out))
    assert np.abs(src.astype(int) - dec).max() <= 2


def test_no_corrector_gives_step_bins(png: Path, tmp_path: Path) -> None:
    qfz, out = tmp_path / "a.qfz", tmp_path / "out.png"
    assert main(["encode", str(png), "-o", str(qfz), "--max-error", "3", "--no-corrector"]) == 0
    h = qfast.inspect(qfz)
    assert (h["bins"], h["corrector"], h["levels"]) == ("step", None, [37] * 3)
    assert main(["decode", str(qfz), "-o", str(out)]) == 0
    src, dec = np.asarray(Image.open(png)), np.asarray(Image.open(out))
    assert np.abs(src.astype(int) - dec).max() <= 3


def test_lossless_and_levels(png: Path, tmp_path: Path) -> None:
    assert main(["encode", str(png), "-o", str(tmp_path / "l.qfz"), "--max-error", "0", "--effort", "3"]) == 0
    assert main(["decode", str(tmp_path / "l.qfz"), "-o", str(tmp_path / "l.png")]) == 0
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "l.png")), np.asarray(Image.open(png)))
    assert main(["encode", str(png), "-o", str(tmp_path / "q.qfz"), "--levels", "8,8,4"]) == 0
    assert qfast.inspect(tmp_path / "q.qfz")["levels"] == [8, 8, 4]
    assert main(["encode", str(png), "-o", str(tmp_path / "s.qfz"), "--levels", "32", "--subsample"]) == 0
    assert qfast.inspect(tmp_path / "s.qfz")["subsampling"] == "4:2:0"
    assert main(["encode", str(png), "-o", str(tmp_path / "t.qfz"), "--target-bpp", "2"]) == 0
    assert qfast.inspect(tmp_path / "t.qfz")["bpp"] <= 2


def test_never_overwrites_without_force(png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qfz = tmp_path / "a.qfz"
    qfz.write_bytes(b"keep me")
    assert main(["encode", str(png), "-o", str(qfz), "--max-error", "1"]) == 1
    assert "already exists (use --force to overwrite)" in capsys.readouterr().err
    assert qfz.read_bytes() == b"keep me"
    assert main(["encode", str(png), "-o", str(qfz), "--max-error", "1", "--force"]) == 0
    out = tmp_path / "o.png"
    out.write_bytes(b"keep")
    assert main(["decode", str(qfz), "-o", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert main(["decode", str(qfz), "-o", str(out), "--force"]) == 0


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["encode", "{png}", "-o", "{tmp}/x.qfz", "--max-error", "40"], "--max-error: expected 0..32, got 40"),
        (["encode", "{png}", "-o", "{tmp}/x.qfz", "--levels", "1"], "levels: expected 2..256, got 1"),
        (["encode", "{tmp}/missing.png", "-o", "{tmp}/x.qfz", "--levels", "4"], "missing.png: no such file"),
        (["decode", "{tmp}/missing.qfz", "-o", "{tmp}/x.png"], "missing.qfz: no such file"),
        (["decode", "{png}", "-o", "{tmp}/x.png"], r"in.png: not a .qfz file \(bad magic\)"),
        (["info", "{png}"], r"in.png: not a .qfz file \(bad magic\)"),
    ],
)
def test_errors_are_one_line(
    argv: list, match: str, png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = [a.format(png=png, tmp=tmp_path) for a in argv]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("qfast: error: ") and err.count("\n") == 1
    import re

    assert re.search(match, err), err


def test_truncated_file_is_reported(png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qfz = tmp_path / "a.qfz"
    assert main(["encode", str(png), "-o", str(qfz), "--max-error", "1"]) == 0
    qfz.write_bytes(qfz.read_bytes()[:-10])
    assert main(["info", str(qfz)]) == 1
    assert "file ends inside the payload" in capsys.readouterr().err


def test_requires_a_mode(png: Path, tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(["encode", str(png), "-o", str(tmp_path / "x.qfz")])
    with pytest.raises(SystemExit):
        main(["encode", str(png), "-o", str(tmp_path / "x.qfz"), "--max-error", "1", "--levels", "4"])
