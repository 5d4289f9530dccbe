"""The ``qfast`` dispatcher: version, help and exit status, run as a user would (the installed entry point) and
in-process. Each command family's own tests sit beside its part (quantize/, palette/, codec/, dashboard/)."""

from __future__ import annotations

import shutil
import subprocess
import sys

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


def test_version_and_help():
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"qfast {qfast.__version__}"
    r = run("--help")
    assert r.returncode == 0 and "quantize" in r.stdout and "demo" in r.stdout
    r = run("quantize", "--help")
    assert r.returncode == 0 and "--levels" in r.stdout and "--force" in r.stdout


def test_in_process_main_returns_status(png, tmp_path, capsys):
    assert main(["quantize", str(png), "-o", str(tmp_path / "a.png"), "--bits", "1"]) == 0
    assert main(["quantize", str(png), "-o", str(tmp_path / "a.png"), "--bits", "1"]) == 1
    assert "already exists" in capsys.readouterr().err
