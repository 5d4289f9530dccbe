"""What a hostile ``.qfz`` file costs to decode: memory and time per declared pixel, with and without the corrector.

Run from the repository root:

    python benchmarks/hostile.py            # each case in a fresh process (a minute or two)

A flat image is a few kilobytes in every coder, so it stands for a decompression bomb: a valid header declaring a
large image over a payload that is cheap to make. Each case is encoded here, then decoded in a fresh subprocess that
resets its peak resident memory (Linux: ``clear_refs``), decodes, and reports the peak and the wall time. The
growth beyond the output array is the working set; the time per declared pixel is what an attacker buys per byte.
Run it on an idle machine (it uses all cores).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import qfast

MEASURE = r"""
import json, sys, time
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
t = time.perf_counter()
out = qfast.decode(data, max_pixels=2**31)
dt = time.perf_counter() - t
after = status("VmHWM")
print(json.dumps({"growth": after - before, "nbytes": out.nbytes, "seconds": dt}))
"""

CASES = [
    ("LOCO (effort 0), lossless", (4096, 4096, 3), dict(max_error=0, effort=0, corrector=None)),
    ("Brotli (effort 1), lossless", (4096, 4096, 3), dict(max_error=0, effort=1, corrector=None)),
    ("QAC (effort 2), lossless", (4096, 4096, 3), dict(max_error=0, effort=2, corrector=None)),
    ("QAC2 (effort 3), lossless", (4096, 4096, 3), dict(max_error=0, effort=3, corrector=None)),
    ("QAC3 (effort 4), lossless", (4096, 4096, 3), dict(max_error=0, effort=4, corrector=None)),
    ("QAC, RGBA", (4096, 4096, 4), dict(max_error=0, effort=2, corrector=None)),
    ("QAC, 4:2:0 levels", (4096, 4096, 3), dict(levels=16, subsample=True, effort=2, corrector=None)),
    ("QAC + corrector, 3072 x 3072", (3072, 3072, 3), dict(levels=16, effort=2)),
    ("QAC + corrector, 768 x 6144 (wide)", (768, 6144, 3), dict(levels=16, effort=2)),
]


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    print(f"{'case':<36}{'file':>10}{'declared':>12}{'output':>10}{'beyond':>10}{'per px':>9}{'time':>8}{'per px':>10}")
    for name, (h, w, c), kw in CASES:
        data = qfast.encode(np.full((h, w, c), 77, np.uint8), **kw)
        path = tmp / "bomb.qfz"
        path.write_bytes(data)
        run = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True, check=True)
        r = json.loads(run.stdout)
        n = h * w
        beyond = r["growth"] - r["nbytes"]
        print(
            f"{name:<36}{len(data):>9,}B{n / 1e6:>10.1f}MP{r['nbytes'] / 2**20:>8.1f}Mi{beyond / 2**20:>8.1f}Mi"
            f"{beyond / n:>8.2f}B{r['seconds']:>7.2f}s{r['seconds'] / n * 1e9:>8.0f}ns"
        )


if __name__ == "__main__":
    main()
