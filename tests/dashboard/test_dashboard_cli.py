"""The dashboard's commands: ``qfast report`` and ``qfast serve`` (its argument checks and its hint without Panel)."""

from __future__ import annotations

import sys

import pytest

import qfast
from qfast import cli

HAS_PALETTE = hasattr(qfast, "quantize_colors")


def test_cli_report(tmp_path, capsys):
    src = qfast.samples.path("parrots")
    out = tmp_path / "r.html"
    assert cli.main(["report", str(src), "-o", str(out), "--bits", "2", "--method", "mu-law"]) == 0
    html = out.read_text("utf-8")
    assert "mu-law, 2 bits" in html and "<script" not in html
    assert cli.main(["report", str(src), "-o", str(out)]) == 1
    assert "already exists (use --force" in capsys.readouterr().err
    assert cli.main(["report", str(src), "-o", str(out), "--force"]) == 0
    bad = tmp_path / "bad.txt"
    bad.write_text("no image")
    assert cli.main(["report", str(bad), "-o", str(tmp_path / "b.html")]) == 1
    assert "not an image" in capsys.readouterr().err
    assert cli.main(["report", str(tmp_path / "missing.png"), "-o", str(tmp_path / "m.html")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert cli.main(["report", str(src), "-o", str(tmp_path / "b.html"), "--bits", "9"]) == 1
    assert "bits:" in capsys.readouterr().err


@pytest.mark.skipif(HAS_PALETTE, reason="this build has palettes")
def test_cli_report_palette_without_the_feature(tmp_path, capsys):
    out = tmp_path / "p.html"
    assert cli.main(["report", str(qfast.samples.path()), "-o", str(out), "--method", "palette"]) == 1
    assert "not available in this build" in capsys.readouterr().err and not out.exists()


def test_cli_serve_without_panel_gives_a_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "panel", None)  # import panel now raises ImportError
    assert cli.main(["serve"]) == 1
    assert capsys.readouterr().err.strip() == "qfast: error: the dashboard needs Panel: pip install 'panel>=1.5'"


def test_cli_serve_checks_the_port(capsys):
    assert cli.main(["serve", "--port", "70000"]) == 1
    assert "--port: expected 0..65535" in capsys.readouterr().err
