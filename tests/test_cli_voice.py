"""One voice for the command line: .qfz accepted wherever an image is, one flag name per meaning (old ones kept),
errors in the flag's own words, a one-line summary on success (``--quiet`` silences it), help for every option,
and ``-`` for standard input and output."""

from __future__ import annotations

import io
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import build_parser, main


@pytest.fixture
def png(tmp_path):
    p = tmp_path / "in.png"
    Image.fromarray(qfast.samples.load()[:64, :96]).save(p)
    return p


@pytest.fixture
def qfz(tmp_path):
    p = tmp_path / "in.qfz"
    p.write_bytes(qfast.encode(qfast.samples.load()[:64, :96], max_error=1))
    return p


@pytest.mark.parametrize(
    "cmd", [["quantize", "--bits", "3"], ["palette", "--colors", "8"], ["encode", "--levels", "16"], ["report"]]
)
def test_qfz_is_an_input_everywhere(qfz, tmp_path, capsys, cmd):
    ext = {"encode": ".qfz", "report": ".html"}.get(cmd[0], ".png")
    assert main([cmd[0], str(qfz), "-o", str(tmp_path / f"out{ext}"), *cmd[1:]]) == 0, capsys.readouterr().err


def test_one_flag_per_meaning(qfz, tmp_path):
    for flag in ("--no-corrector", "--no-correct"):
        out = tmp_path / f"o{flag}.png"
        assert main(["decode", str(qfz), "-o", str(out), flag, "-q"]) == 0
        with Image.open(out) as im:
            np.testing.assert_array_equal(np.asarray(im), qfast.decode(qfz.read_bytes(), correct=False))


@pytest.mark.parametrize(
    "args,words",
    [
        (["palette", "{png}", "-o", "{tmp}/o.png", "--colors", "0"], "--colors: expected 1..256"),
        (["demo", "--sample", "nope", "-o", "{tmp}/d.png"], "--sample: expected one of"),
        (["encode", "{png}", "-o", "{tmp}/o.qfz", "--max-error", "99"], "--max-error: expected 0..32"),
        (["encode", "{png}", "-o", "{tmp}/o.qfz", "--target-bpp", "-1"], "--target-bpp: expected a positive"),
        (["quantize", "{png}", "-o", "{tmp}/o.png", "--levels", "1"], "--levels: expected 2..256"),
        (["report", "{png}", "-o", "{tmp}/o.html", "--bits", "9"], "--bits:"),
    ],
)
def test_errors_in_the_flags_own_words(png, tmp_path, capsys, args, words):
    args = [a.format(png=png, tmp=tmp_path) for a in args]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.startswith("qfast: error: " + words), err


def test_unknown_flag_prints_the_commands_usage(png, capsys):
    with pytest.raises(SystemExit) as e:
        main(["quantize", str(png), "-o", "x.png", "--bits", "3", "--bogus"])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "usage: qfast quantize" in err and "unrecognized arguments: --bogus" in err


@pytest.mark.parametrize(
    "cmd,ext",
    [
        (["quantize", "--bits", "3"], ".png"),
        (["palette", "--colors", "8"], ".png"),
        (["encode", "--max-error", "2"], ".qfz"),
        (["decode"], ".png"),
        (["report"], ".html"),
    ],
)
def test_one_line_summary_and_quiet(png, qfz, tmp_path, capsys, cmd, ext):
    src = qfz if cmd[0] == "decode" else png
    out = tmp_path / f"a{ext}"
    assert main([cmd[0], str(src), "-o", str(out), *cmd[1:]]) == 0
    text = capsys.readouterr().out
    assert text.count("\n") == 1 and str(out) in text, text
    assert main([cmd[0], str(src), "-o", str(tmp_path / f"b{ext}"), *cmd[1:], "--quiet"]) == 0
    assert capsys.readouterr().out == ""


def test_every_option_has_help():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, p in sub.choices.items():
        for action in p._actions:
            assert action.help, f"qfast {name} {'/'.join(action.option_strings) or action.dest}: no help"
    demo = sub.choices["demo"].format_help()
    for s in qfast.samples.names():
        assert s in demo
    for name in ("quantize", "palette", "encode", "decode"):
        text = sub.choices[name].format_help()
        assert "JPEG" in text and "BMP" in text, name


def test_dash_for_standard_input_and_output(png, tmp_path):
    data = png.read_bytes()
    r = subprocess.run(
        [sys.executable, "-m", "qfast", "quantize", "-", "-o", "-", "--bits", "2"],
        input=data,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    with Image.open(io.BytesIO(r.stdout)) as im:
        assert im.format == "PNG"
        np.testing.assert_array_equal(np.asarray(im), qfast.quantize_uniform(qfast.samples.load()[:64, :96], bits=2))
    r = subprocess.run(
        [sys.executable, "-m", "qfast", "encode", "-", "-o", "-", "--max-error", "1"],
        input=data,
        capture_output=True,
        timeout=120,
    )
    assert r.returncode == 0 and r.stdout[:4] == b"\x89QFZ", r.stderr
    r2 = subprocess.run(
        [sys.executable, "-m", "qfast", "decode", "-", "-o", "-"], input=r.stdout, capture_output=True, timeout=120
    )
    assert r2.returncode == 0 and r2.stdout[:8] == b"\x89PNG\r\n\x1a\n", r2.stderr


def test_info_and_demo_are_quiet_when_asked(qfz, tmp_path, capsys):
    assert main(["info", str(qfz)]) == 0
    header = capsys.readouterr().out
    assert "width" in header and "height" in header
    assert main(["info", str(qfz), "--quiet"]) == 0
    assert capsys.readouterr().out == ""
    bad = tmp_path / "bad.qfz"
    bad.write_bytes(qfz.read_bytes()[:10])
    assert main(["info", str(bad), "-q"]) == 1  # quiet checks still fail loudly
    assert str(bad) in capsys.readouterr().err
    out = tmp_path / "demo.png"
    assert main(["demo", "-o", str(out), "--sample", "parrots", "-q"]) == 0
    assert capsys.readouterr().out == "" and out.exists()
