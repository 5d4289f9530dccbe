"""What a hostile file costs: decoding holds the output and a small working set, whatever the declared size.

A file declaring a large flat image is a few kilobytes in every coder (a decompression bomb). Each case is decoded
in a fresh subprocess that resets its peak resident memory (Linux: ``clear_refs``) and reports the peak after
``qfast.decode``, so the growth counts everything: NumPy's output, the Rust decoder's buffers and onnxruntime's.
Before the planes were decoded straight into the output (row bands) the growth was about 3x the output (two bytes
per sample of index planes beside it, plus Brotli's raw residuals); the corrector made a second and third image,
and bin bounds of a whole tile of rows.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

import qfast

MEASURE = r"""
import json, sys
import numpy as np
import qfast
data = open(sys.argv[1], "rb").read()
# Warm up the thread pool and the corrector's session on a tiny file (no strength map: no corrector run at encode).
qfast.decode(qfast.encode(np.zeros((64, 64, 3), np.uint8), levels=8, strength_map=False))
def status(key):  # kB in /proc/self/status
    return next(int(x.split()[1]) for x in open("/proc/self/status") if x.startswith(key)) * 1024
# Reset the peak (Linux: clear_refs 5), so the peak after decoding is decoding's own, not an earlier one's.
open("/proc/self/clear_refs", "w").write("5")
before = status("VmRSS")
out = qfast.decode(data, max_pixels=2**31)
after = status("VmHWM")
print(json.dumps({"growth": after - before, "nbytes": out.nbytes, "flat": bool((out == out[:1, :1]).all())}))
"""

MiB = 1 << 20


def peak_growth(tmp_path, data: bytes) -> dict:
    path = tmp_path / "bomb.qfz"
    path.write_bytes(data)
    run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


@pytest.mark.parametrize(
    "channels,kw",
    [
        (3, dict(max_error=0, effort=2)),  # QAC, YCoCg-R
        (3, dict(max_error=0, effort=3)),  # QAC2
        (3, dict(max_error=0, effort=4)),  # QAC3
        (3, dict(max_error=0, effort=1)),  # Brotli
        (3, dict(max_error=0, effort=0)),  # the fast coder, in stripes
        (3, dict(levels=16, subsample=True, effort=0)),  # the fast coder, 4:2:0 chroma bands
        (4, dict(max_error=2, effort=2)),  # alpha plane
        (1, dict(max_error=0, effort=2)),  # grey
        (3, dict(levels=16, subsample=True, effort=2)),  # YCbCr 4:2:0 chroma
        (3, dict(levels=16, color="ycbcr", effort=1)),  # YCbCr 4:4:4, Brotli
    ],
)
def test_decode_holds_the_output_and_a_few_mib(tmp_path, channels, kw):
    w, h = 2048, 1536
    img = np.full((h, w, channels) if channels > 1 else (h, w), 77, np.uint8)
    data = qfast.encode(img, corrector=None, **kw)
    assert len(data) < 64 * 1024  # a bomb: kilobytes declaring megabytes
    r = peak_growth(tmp_path, data)
    assert r["nbytes"] == img.nbytes and r["flat"]
    # The output, Brotli's 4 MiB window, and rows: 8 MiB of working set is the documented bound. (The output itself
    # must show: a measurement that missed it would pass anything.)
    assert 0.9 * r["nbytes"] <= r["growth"] <= r["nbytes"] + 8 * MiB, (r["growth"] / MiB, r["nbytes"] / MiB)


@pytest.mark.skipif(not hasattr(qfast, "Corrector"), reason="needs onnxruntime (a runtime dependency)")
def test_corrector_during_decode_is_o_tile_beyond_the_output(tmp_path):
    # A wide file: the corrector's float band is tile x W; beyond the output it holds that band (and its shift,
    # 24 B per column per tile row: 108 MiB here) and the network's working set for one tile (onnxruntime's arena,
    # 110-200 MiB from run to run). Bin bounds over a whole band of tile rows (before: +200 MiB here) and the extra
    # image copies are gone.
    img = np.full((768, 6144, 3), 77, np.uint8)
    data = qfast.encode(img, levels=16)
    assert qfast.inspect(data)["corrector"] is not None
    r = peak_growth(tmp_path, data)
    assert r["nbytes"] == img.nbytes
    assert 0.9 * r["nbytes"] <= r["growth"] and r["growth"] - r["nbytes"] <= 340 * MiB, r["growth"] / MiB
