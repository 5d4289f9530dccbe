"""Under a memory limit every entry point raises MemoryError (or succeeds): never an abort of the interpreter.

Each case runs in a subprocess whose address space is limited (``RLIMIT_AS``) to what it already uses plus a little,
after its input was made and qfast's thread pool was started; the call then needs more than the limit allows. A
Rust allocation that is not fallible aborts the process ("memory allocation of N bytes failed", exit 134), and a
NumPy allocation through rust-numpy's constructors was a PanicException: the subprocess must exit 0 having printed
``MemoryError`` or ``ok``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

#: Address space allowed beyond what the subprocess uses when the limit is set.
HEADROOM_MB = 48

_PRELUDE = """
import resource, sys
import numpy as np
import qfast

rng = np.random.default_rng(0)
def noise(*shape):
    return rng.integers(0, 256, size=shape, dtype=np.uint8)

small = noise(64, 64, 3)
qfast.quantize_uniform(small, 4); qfast.quantize_colors(small, 4)  # start the thread pool before the limit
"""

_LIMIT = """
pages = int(open("/proc/self/statm").read().split()[0])
limit = pages * resource.getpagesize() + {headroom} * 2**20
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
try:
    {call}
    print("ok")
except MemoryError:
    print("MemoryError")
"""

#: name -> (setup made before the limit, the call made under it). Inputs are large enough that the call's outputs
#: or working buffers cannot fit in the headroom.
CASES = {
    "quantize_uniform": ("img = noise(4096, 4096, 3)", "qfast.quantize_uniform(img, 8)"),
    "uniform_indices": ("img = noise(4096, 4096, 3)", "qfast.uniform_indices(img, 8)"),
    "dequantize_uniform": ("idx = qfast.uniform_indices(noise(4096, 4096, 3), 8)", "qfast.dequantize_uniform(idx, 8)"),
    "lloyd_max": ("img = noise(4096, 4096, 3)", "qfast.quantize_lloyd_max(img, 8)"),
    "mu_law": ("img = noise(4096, 4096, 3)", "qfast.quantize_mu_law(img, 8)"),
    "pack_bits": ("v = noise(16384, 8192) % 8", "qfast.pack_bits(v, 3)"),
    "unpack_bits": ("p = noise(3 * 2**23)", "qfast.unpack_bits(p, 3, 2**26)"),
    "mse": ("a = noise(4096, 4096, 3); b = noise(4096, 4096, 3)", "qfast.mse(a, b)"),
    "ssim": ("a = noise(4096, 4096, 3); b = noise(4096, 4096, 3)", "qfast.ssim(a, b)"),
    "kmeans_palette": ("img = noise(4096, 4096, 3)", "qfast.kmeans_palette(img, 256)"),
    "quantize_colors": ("img = noise(4096, 4096, 3)", "qfast.quantize_colors(img, 256)"),
    "quantize_colors_oklab": ("img = noise(8192, 8192, 3)", "qfast.quantize_colors(img, 64, color_space='oklab')"),
    **{
        f"remap_{d}": (
            "img = noise(8192, 8192, 3); pal = qfast.kmeans_palette(small, 64)",
            f"qfast.remap(img, pal, dither={d!r})",
        )
        for d in ("none", "floyd-steinberg", "atkinson", "bayer4", "bayer8")
    },
    "quantize_colors_rgba": ("img = noise(4096, 4096, 4)", "qfast.quantize_colors(img, 64)"),
    **{
        f"remap_rgba_{d}": (
            "img = noise(8192, 4096, 4); pal = qfast.kmeans_palette(noise(64, 64, 4), 32)",
            f"qfast.remap(img, pal, dither={d!r})",
        )
        for d in ("none", "floyd-steinberg", "bayer8")
    },
    "encode_qac": ("img = noise(4096, 4096, 3)", "qfast.encode(img, max_error=0, corrector=None)"),
    "encode_qac2": ("img = noise(4096, 4096, 3)", "qfast.encode(img, max_error=1, effort=3, corrector=None)"),
    # Shorter images: the sample that chooses the colour transform (an eighth of the rows) and then the whole image
    # get through to the plane threads, whose row batches must be allocated fallibly too.
    **{
        f"encode_qac2_{h}_rows": (
            f"img = noise({h}, 4096, 3)",
            "qfast.encode(img, max_error=1, effort=3, corrector=None)",
        )
        for h in (512, 1024, 2048)
    },
    "encode_brotli": ("img = noise(4096, 4096, 3)", "qfast.encode(img, max_error=0, effort=1, corrector=None)"),
    "encode_loco": ("img = noise(4096, 4096, 3)", "qfast.encode(img, max_error=0, effort=0, corrector=None)"),
    "encode_ycbcr420": ("img = noise(4096, 4096, 3)", "qfast.encode(img, levels=16, subsample=True, corrector=None)"),
    "decode_qac": ("data = qfast.encode(noise(3000, 3000, 3), max_error=0, corrector=None)", "qfast.decode(data)"),
    "decode_qac2": (
        "data = qfast.encode(noise(3000, 3000, 3), max_error=0, effort=3, corrector=None)",
        "qfast.decode(data)",
    ),
    "decode_brotli": (
        "data = qfast.encode(noise(3000, 3000, 3), max_error=0, effort=1, corrector=None)",
        "qfast.decode(data)",
    ),
    "decode_loco": (
        "data = qfast.encode(noise(3000, 3000, 3), max_error=0, effort=0, corrector=None)",
        "qfast.decode(data)",
    ),
    "decode_ycbcr420": (
        "data = qfast.encode(np.zeros((4096, 4096, 3), np.uint8), levels=16, subsample=True, corrector=None)",
        "qfast.decode(data)",
    ),
    "decode_with_the_corrector": ("data = qfast.encode(noise(2048, 2048, 3), levels=8)", "qfast.decode(data)"),
    "corrector": (
        "c = qfast.Corrector(); img = qfast.quantize_uniform(noise(2048, 2048, 3), 8)",
        "c.correct(img, 8)",
    ),
}


def _run(setup: str, call: str, headroom: int = HEADROOM_MB) -> subprocess.CompletedProcess:
    code = _PRELUDE + setup + "\n" + _LIMIT.format(headroom=headroom, call=call)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_memory_error_not_abort(name: str) -> None:
    setup, call = CASES[name]
    r = _run(setup, call)
    assert r.returncode == 0, f"{name}: exit {r.returncode}\n{r.stdout}\n{r.stderr[-2000:]}"
    assert r.stdout.strip().splitlines()[-1] in ("MemoryError", "ok"), r.stdout + r.stderr


def test_the_limit_really_bites() -> None:
    # The harness itself: a plain NumPy allocation beyond the headroom fails under the limit.
    r = _run("", "np.ones(200 * 2**20, np.uint8)")
    assert r.returncode == 0 and r.stdout.strip() == "MemoryError", r.stdout + r.stderr
