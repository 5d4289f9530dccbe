"""Uniform quantization, Lloyd-Max and n-bit packing: qfast against NumPy and OpenCV, in one run.

    python benchmarks/uniform.py [--repeat N]

A 4000 x 3000 x 3 uint8 image (a photo tiled up; 36 MB). Throughput is input bytes per second; each time is the
median of N runs after a warm-up. Every qfast result is checked against the anchor it is compared with.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import numpy as np

import qfast


def timed(f: Callable[[], object], repeat: int) -> float:
    f()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def test_image() -> np.ndarray:
    photo = qfast.samples.load()
    reps = (-(-3000 // photo.shape[0]), -(-4000 // photo.shape[1]), 1)
    return np.ascontiguousarray(np.tile(photo, reps)[:3000, :4000])


def numpy_pack(v: np.ndarray, bits: int) -> np.ndarray:
    """The fastest plain-NumPy packing we know: 1 bit via packbits, else 8 values per u64 by shifts."""
    if bits == 1:
        return np.packbits(v, bitorder="little")
    if bits == 8:
        return v.copy()
    n = v.size
    pad = (-n) % 8
    g = np.concatenate([v, np.zeros(pad, np.uint8)]) if pad else v
    g = g.reshape(-1, 8).astype(np.uint64)
    word = np.zeros(g.shape[0], np.uint64)
    for k in range(8):
        word |= g[:, k] << np.uint64(k * bits)
    out = word.view(np.uint8).reshape(-1, 8)[:, :bits].reshape(-1)
    return out[: -(-n * bits // 8)]


def numpy_unpack(p: np.ndarray, bits: int, n: int) -> np.ndarray:
    if bits == 1:
        return np.unpackbits(p, count=n, bitorder="little")
    if bits == 8:
        return p[:n].copy()
    groups = -(-n // 8)
    buf = np.zeros((groups, 8), np.uint8)
    flat = np.zeros(groups * bits, np.uint8)
    flat[: p.size] = p[: groups * bits]
    buf[:, :bits] = flat.reshape(groups, bits)
    word = buf.view(np.uint64).reshape(-1)
    mask = np.uint64((1 << bits) - 1)
    out = np.empty((groups, 8), np.uint8)
    for k in range(8):
        out[:, k] = (word >> np.uint64(k * bits)) & mask
    return out.reshape(-1)[:n]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    r = args.repeat
    img = test_image()
    gb = img.nbytes / 1e9
    print(f"image {img.shape} uint8, {img.nbytes / 1e6:.0f} MB; qfast threads: {qfast._core.thread_count()}")

    copy_t = timed(lambda: img.copy(), r)
    print(f"\nreference: numpy copy {gb / copy_t:.1f} GB/s")

    print("\n== uniform quantization, 16 levels, midpoint reconstruction (the same output from every row)")
    lut = qfast.quantize_uniform(np.arange(256, dtype=np.uint8).reshape(1, 256), 16).reshape(256)
    want = qfast.quantize_uniform(img, 16)
    rows: list[tuple[str, Callable[[], np.ndarray]]] = [
        ("numpy shift (x & 0xF0 | 8)", lambda: np.bitwise_or(np.bitwise_and(img, 0xF0), 8)),
        ("numpy lookup table (np.take)", lambda: np.take(lut, img)),
    ]
    try:
        import cv2

        cv2.setNumThreads(2)
        rows.append(("cv2.LUT", lambda: cv2.LUT(img, lut)))
    except ImportError:
        print("(opencv not installed: pip install opencv-python-headless)")
    rows.append(("qfast.quantize_uniform", lambda: qfast.quantize_uniform(img, 16)))
    times = {}
    for name, f in rows:
        np.testing.assert_array_equal(f(), want)
        times[name] = timed(f, r)
    best_numpy = min(v for k, v in times.items() if k.startswith("numpy"))
    q = times["qfast.quantize_uniform"]
    print(f"{'method':<34}{'ms':>8}{'GB/s':>8}{'qfast speed-up':>16}")
    for name, t in times.items():
        print(f"{name:<34}{1000 * t:>8.2f}{gb / t:>8.2f}{t / q:>15.2f}x")
    vs_cv2 = f", vs cv2.LUT: {times['cv2.LUT'] / q:.2f}x" if "cv2.LUT" in times else ""
    print(f"qfast vs best numpy: {best_numpy / q:.2f}x{vs_cv2}")

    print("\n== into an existing buffer (out=): no fresh output to fault in")
    buf = np.empty_like(img)
    dst = np.empty_like(img)
    np.testing.assert_array_equal(qfast.quantize_uniform(img, 16, out=buf), want)
    t_copyto = timed(lambda: np.copyto(dst, img), r)
    t_out = timed(lambda: qfast.quantize_uniform(img, 16, out=buf), r)
    print(f"{'call':<44}{'ms':>8}{'GB/s':>8}{'vs np.copyto':>14}")
    print(f"{'np.copyto(existing, img)':<44}{1000 * t_copyto:>8.2f}{gb / t_copyto:>8.2f}{1.0:>13.2f}x")
    print(
        f"{'qfast.quantize_uniform(img, 16, out=existing)':<44}{1000 * t_out:>8.2f}{gb / t_out:>8.2f}"
        f"{t_copyto / t_out:>13.2f}x"
    )
    print(
        f"quantize_uniform with out= runs at {100 * t_copyto / t_out:.0f}% of np.copyto's speed "
        f"(fresh output: {100 * t_copyto / q:.0f}%)"
    )

    print("\n== other level counts and quantizers (qfast)")
    print(f"{'call':<44}{'ms':>8}{'GB/s':>8}{'vs quantize_uniform':>21}")
    for name, f in [
        ("quantize_uniform(levels=10)", lambda: qfast.quantize_uniform(img, 10)),
        ("quantize_uniform(levels=[32, 64, 32])", lambda: qfast.quantize_uniform(img, [32, 64, 32])),
        ("uniform_indices(levels=16)", lambda: qfast.uniform_indices(img, 16)),
        ("quantize_lloyd_max(levels=16)", lambda: qfast.quantize_lloyd_max(img, 16)),
        ("quantize_lloyd_max(levels=16).image()", lambda: qfast.quantize_lloyd_max(img, 16).image()),
        ("quantize_mu_law(levels=16)", lambda: qfast.quantize_mu_law(img, 16)),
    ]:
        t = timed(f, r)
        print(f"{name:<44}{1000 * t:>8.2f}{gb / t:>8.2f}{t / q:>20.2f}x")

    print("\n== pack_bits / unpack_bits, 36 M values (GB/s of unpacked values)")
    print(f"{'bits':>4}{'numpy pack':>12}{'qfast pack':>12}{'ratio':>8}", end="")
    print(f"{'numpy unpack':>14}{'qfast unpack':>14}{'ratio':>8}")
    rng = np.random.default_rng(0)
    n = img.size
    for bits in range(1, 9):
        v = rng.integers(0, 1 << bits, size=n, dtype=np.uint8)
        packed = qfast.pack_bits(v, bits)
        np.testing.assert_array_equal(numpy_pack(v, bits), packed)
        np.testing.assert_array_equal(numpy_unpack(packed, bits, n), v)
        tnp = timed(lambda v=v, b=bits: numpy_pack(v, b), max(3, r // 2))
        tq = timed(lambda v=v, b=bits: qfast.pack_bits(v, b), r)
        unp = timed(lambda p=packed, b=bits: numpy_unpack(p, b, n), max(3, r // 2))
        unq = timed(lambda p=packed, b=bits: qfast.unpack_bits(p, b, n), r)
        g = n / 1e9
        print(f"{bits:>4}{g / tnp:>12.2f}{g / tq:>12.2f}{tnp / tq:>7.1f}x", end="")
        print(f"{g / unp:>14.2f}{g / unq:>14.2f}{unp / unq:>7.1f}x")


if __name__ == "__main__":
    main()
