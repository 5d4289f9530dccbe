"""``qfast demo`` and the bundled samples it uses, run as a user would (the installed entry point)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import qfast


def run(*args, cwd=None):
    exe = shutil.which("qfast")
    cmd = [exe, *args] if exe else [sys.executable, "-m", "qfast", *args]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=120)


def read(p):
    with Image.open(p) as im:
        return np.asarray(im)


def test_demo_prints_a_table_and_writes_a_comparison(tmp_path):
    r = run("demo", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    for word in ("PSNR", "SSIM", "packed", "uniform", "lloyd-max", "mu-law"):
        assert word in r.stdout
    first = tmp_path / "qfast-demo.png"
    assert first.exists() and read(first).shape[1] >= 768
    # A second run keeps the first file and picks a free name.
    before = first.read_bytes()
    r = run("demo", cwd=tmp_path)
    assert r.returncode == 0 and (tmp_path / "qfast-demo-1.png").exists()
    assert first.read_bytes() == before


def test_bundled_samples_are_real_photos_and_named_in_the_sources():
    sources = (qfast.samples.path("parrots").parent / "SOURCES.md").read_text()
    assert set(qfast.samples.names()) >= {"parrots", "hats", "plane"}
    for name in qfast.samples.names():
        img = qfast.samples.load(name)
        assert img.shape == (512, 768, 3) and img.dtype == np.uint8 and img.std() > 20
        assert f"`{name}.png`" in sources
    with pytest.raises(ValueError, match="name: expected one of"):
        qfast.samples.load("nonexistent")


def test_demo_other_sample_and_unknown_sample(tmp_path):
    r = run("demo", "--sample", "hats", "-o", str(tmp_path / "h.png"))
    assert r.returncode == 0 and "'hats'" in r.stdout and (tmp_path / "h.png").exists()
    r = run("demo", "--sample", "nope", "-o", str(tmp_path / "n.png"))
    assert r.returncode == 1 and "--sample: expected one of" in r.stderr and not (tmp_path / "n.png").exists()
