"""The report as a user reads it: the codec's curve decoded as its files are meant to be (with the corrector) and
without it, the legend whole, no upload limit on a local file, and a 16-bit picture shown, not clipped."""

from __future__ import annotations

import re

import numpy as np
from PIL import Image

import qfast
from qfast.cli import main
from qfast.dashboard import charts
from qfast.dashboard.rate_distortion import rate_distortion
from qfast.dashboard.views import rd_plot


def test_codec_curves_with_and_without_the_corrector(photo):
    img = np.ascontiguousarray(photo[:128, :192])
    rd = rate_distortion(img)
    npx = img.shape[0] * img.shape[1]
    with_c = dict((lab, (bpp, db)) for bpp, db, lab in rd["qfast codec + corrector"])
    without = dict((lab, (bpp, db)) for bpp, db, lab in rd["qfast codec, no corrector"])
    data = qfast.encode(img, max_error=8)
    assert with_c["d=8"] == (8 * len(data) / npx, qfast.psnr(img, qfast.decode(data)))
    plain = qfast.encode(img, max_error=8, corrector=None)
    assert without["d=8"] == (8 * len(plain) / npx, qfast.psnr(img, qfast.decode(plain)))
    assert with_c["d=8"][1] > without["d=8"][1]


def test_legend_is_whole(photo):
    rd = rate_distortion(np.ascontiguousarray(photo[:64, :96]))
    svg = rd_plot(rd, (1.0, 30.0, "x"))
    width = float(re.search(r'width="(\d+)"', svg).group(1))
    for x, text in re.findall(r'<text x="([\d.]+)" y="[\d.]+">([^<]+)</text>', svg):
        assert float(x) + charts.LEGEND_CHAR_PX * len(text) <= width, text


def test_no_upload_limit_for_local_files(tmp_path, monkeypatch, capsys):
    import qfast.dashboard.settings as settings
    import qfast.dashboard.upload as upload

    # the dashboard's limits made tiny: a local file is still reported
    monkeypatch.setattr(settings, "MAX_PIXELS", 100)
    monkeypatch.setattr(upload, "MAX_PIXELS", 100)
    monkeypatch.setattr(upload.load_upload, "__defaults__", None)
    monkeypatch.setattr(upload.load_upload, "__kwdefaults__", {"max_bytes": 10, "max_pixels": 100})
    src = tmp_path / "in.png"
    Image.fromarray(qfast.samples.load()[:64, :96]).save(src)
    assert main(["report", str(src), "-o", str(tmp_path / "r.html")]) == 0, capsys.readouterr().err


def test_16_bit_grey_is_shown_not_clipped(tmp_path, capsys):
    ramp = (np.arange(64 * 96, dtype=np.uint32).reshape(64, 96) * 10).astype(np.uint16)
    src = tmp_path / "grey16.png"
    Image.fromarray(ramp).save(src)
    with Image.open(src) as im:
        assert im.mode.startswith("I")
    out = tmp_path / "r.html"
    assert main(["report", str(src), "-o", str(out)]) == 0, capsys.readouterr().err
    html = out.read_text("utf-8")
    assert "16-bit greyscale shown as 8 bits" in html
    from qfast.dashboard.upload import load_upload

    img, _ = load_upload("grey16.png", src.read_bytes())
    assert (img == 255).mean() < 0.01 and np.abs(img.astype(int) - np.round(ramp / 257)).max() == 0


def test_report_reads_qfz_by_content(tmp_path, capsys):
    src = tmp_path / "picture.bin"
    src.write_bytes(qfast.encode(qfast.samples.load()[:64, :96], max_error=1))
    assert main(["report", str(src), "-o", str(tmp_path / "r.html")]) == 0, capsys.readouterr().err
