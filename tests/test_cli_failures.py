"""Every failure of the command line is one line naming the file and the cause, a non-zero exit, no traceback
(issue #13). Run as root here, a file made unreadable with chmod stays readable, so "permission denied" (and EIO) is
simulated by a monkeypatched ``open`` that raises the error the kernel would; each test says which."""

from __future__ import annotations

import builtins
import errno
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import qfast
from qfast.cli import main


@pytest.fixture
def png(tmp_path):
    p = tmp_path / "in.png"
    Image.fromarray(qfast.samples.load()[:64, :96]).save(p)
    return p


@pytest.fixture
def qfz(tmp_path, png):
    p = tmp_path / "in.qfz"
    p.write_bytes(qfast.encode(qfast.samples.load()[:64, :96], max_error=2))
    return p


def _one_line(capsys, *needles):
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1 and err.startswith("qfast: error: "), err
    for n in needles:
        assert n in err, err
    return err


@pytest.mark.parametrize("cmd", [["quantize", "--bits", "3"], ["encode", "--max-error", "2"]])
def test_output_that_is_a_folder(png, tmp_path, capsys, cmd):
    folder = tmp_path / "out.png"
    folder.mkdir()
    for force in ([], ["--force"]):
        assert main([cmd[0], str(png), "-o", str(folder), *cmd[1:], *force]) == 1
        _one_line(capsys, str(folder), "is a folder")


@pytest.mark.parametrize("where", ["/proc/out.png", "/proc/nonexistent-qfast/out.png"])
def test_output_folder_not_writable_or_missing(png, capsys, where):
    assert main(["quantize", str(png), "-o", where, "--bits", "3"]) == 1
    _one_line(capsys, "/proc")


def test_output_folder_read_only(png, tmp_path, capsys, monkeypatch):
    # simulated: root may write anywhere, so mkstemp raises what it would for another user
    import tempfile

    def denied(*a, **k):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    out = tmp_path / "o.png"
    assert main(["quantize", str(png), "-o", str(out), "--bits", "3"]) == 1
    _one_line(capsys, str(out), "Permission denied")


def _deny_reading(monkeypatch, path, err=errno.EACCES, text="Permission denied"):
    real_open = builtins.open
    real_io_open = io.open
    target = str(path)

    def fake(file, *a, **k):
        if str(file) == target:
            raise (PermissionError if err == errno.EACCES else OSError)(err, text, target)
        return real_open(file, *a, **k)

    def fake_io(file, *a, **k):
        if str(file) == target:
            raise (PermissionError if err == errno.EACCES else OSError)(err, text, target)
        return real_io_open(file, *a, **k)

    monkeypatch.setattr(builtins, "open", fake)
    monkeypatch.setattr(io, "open", fake_io)


def test_unreadable_input_really(png, tmp_path, capsys):
    os.chmod(png, 0)
    try:
        readable = os.access(png, os.R_OK)
        status = main(["quantize", str(png), "-o", str(tmp_path / "o.png"), "--bits", "3"])
        if readable:  # root: chmod cannot stop it, the file is read
            assert status == 0
            capsys.readouterr()
        else:
            assert status == 1
            _one_line(capsys, str(png), "ermission denied")
    finally:
        os.chmod(png, 0o644)


@pytest.mark.parametrize("cmd", ["quantize", "encode", "decode", "info", "report", "palette"])
def test_unreadable_input_simulated(png, qfz, tmp_path, capsys, monkeypatch, cmd):
    src = qfz if cmd in ("decode", "info") else png
    _deny_reading(monkeypatch, src)
    args = {
        "quantize": ["--bits", "3"],
        "encode": ["--max-error", "2"],
        "decode": [],
        "info": None,
        "report": [],
        "palette": ["--colors", "4"],
    }[cmd]
    out = [] if args is None else ["-o", str(tmp_path / ("o.html" if cmd == "report" else "o.png")), *args]
    assert main([cmd, str(src), *out]) == 1
    _one_line(capsys, str(src), "Permission denied")


def test_info_on_eio(qfz, capsys, monkeypatch):
    _deny_reading(monkeypatch, qfz, errno.EIO, "Input/output error")
    assert main(["info", str(qfz)]) == 1
    _one_line(capsys, str(qfz), "Input/output error")


def test_memory_error_during_decode(qfz, tmp_path, capsys, monkeypatch):
    def oom(*a, **k):
        raise MemoryError

    monkeypatch.setattr(qfast.codec, "decode", oom)
    assert main(["decode", str(qfz), "-o", str(tmp_path / "o.png")]) == 1
    _one_line(capsys, str(qfz), "out of memory")


@pytest.mark.parametrize("cmd", [["quantize", "--bits", "3"], ["encode", "--max-error", "1"], ["info"]])
def test_folder_as_input_is_a_folder(tmp_path, capsys, cmd):
    args = [cmd[0], str(tmp_path)] + ([] if cmd[0] == "info" else ["-o", str(tmp_path / "o.x"), *cmd[1:]])
    assert main(args) == 1
    _one_line(capsys, str(tmp_path), "is a folder")


def test_decompression_bomb_warning_prints_nothing_extra(tmp_path):
    big = tmp_path / "big.png"
    # over Pillow's warning threshold (89 MP) but under its error (179 MP): a 1-bit image keeps the file small
    Image.new("1", (10_000, 9_000)).save(big)
    r = subprocess.run(
        [sys.executable, "-m", "qfast", "encode", str(big), "-o", str(tmp_path / "b.qfz"), "--levels", "1"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 1 and "Warning" not in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_report_on_a_very_wide_image(tmp_path, capsys):
    wide = tmp_path / "wide.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (8, 17000, 3), dtype=np.uint8)).save(wide)
    out = tmp_path / "r.html"
    assert main(["report", str(wide), "-o", str(out)]) == 0, capsys.readouterr().err
    assert "WebP" in out.read_text("utf-8")


@pytest.mark.slow
def test_report_on_a_large_image(tmp_path, capsys):
    big = tmp_path / "big.png"
    Image.fromarray(np.tile(qfast.samples.load(), (10, 11, 1))).save(big)  # 5120 x 8448: 43 MP
    out = tmp_path / "r.html"
    assert main(["report", str(big), "-o", str(out)]) == 0, capsys.readouterr().err
