"""Colour palettes, qfast next to the anchors: time (palette + remap) and PSNR on the Kodak images.

Run from the repository root:

    python benchmarks/palette.py                      # everything the issue asks for (several minutes)
    python benchmarks/palette.py --ks 16,256 --anchors imagequant,pillow-fastoctree --images 8

Every method gets the same uint8 RGB pixels and returns a palette image; the time is the median over the images of
the best of ``--repeat`` runs (one run for the slow k-means anchors), counting only the library call(s) that make
the palette and map the pixels (conversions into the library's own input type are done before the clock starts).
PSNR is over R, G and B, averaged over the images. Libraries that take a thread count get 2 threads (this machine's
core count); qfast uses its rayon pool (all cores). Anchors that are not installed are skipped with a note.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable

THREADS = "2"
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, THREADS)

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

import qfast  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
KODAK = ROOT.parent / "shared" / "data" / "kodak"

# name -> (prepare(rgb array) -> input, run(input, k) -> (palette (n, 3), indices (H, W)) or an RGB array)
Method = tuple[Callable[[np.ndarray], Any], Callable[[Any, int], Any]]


def _qfast(method: str) -> Method:
    def run(img: np.ndarray, k: int) -> Any:
        q = qfast.quantize_colors(img, k, method=method)
        return q.palette, q.indices

    return (lambda a: a), run


def _cv2() -> Method:
    import cv2

    cv2.setNumThreads(int(THREADS))

    def run(px: np.ndarray, k: int) -> Any:
        crit = (cv2.TERM_CRITERIA_MAX_ITER, 20, 0)
        cv2.setRNGSeed(0)
        _, labels, centres = cv2.kmeans(px, k, None, crit, 1, cv2.KMEANS_PP_CENTERS)
        return np.clip(np.round(centres), 0, 255).astype(np.uint8), labels.ravel()

    return (lambda a: a.reshape(-1, 3).astype(np.float32)), run


def _sklearn() -> Method:
    from sklearn.cluster import KMeans

    def run(px: np.ndarray, k: int) -> Any:
        km = KMeans(n_clusters=k, n_init=1, random_state=0).fit(px)
        return np.clip(np.round(km.cluster_centers_), 0, 255).astype(np.uint8), km.labels_

    return (lambda a: a.reshape(-1, 3).astype(np.float32)), run


def _faiss() -> Method:
    import faiss

    faiss.omp_set_num_threads(int(THREADS))

    def run(px: np.ndarray, k: int) -> Any:
        km = faiss.Kmeans(3, k, niter=20, seed=0, verbose=False)
        km.train(px)
        _, labels = km.index.search(px, 1)
        return np.clip(np.round(km.centroids), 0, 255).astype(np.uint8), labels.ravel()

    return (lambda a: np.ascontiguousarray(a.reshape(-1, 3), dtype=np.float32)), run


def _pillow(method: str, kmeans: int = 0) -> Method:
    m = {"mediancut": Image.Quantize.MEDIANCUT, "fastoctree": Image.Quantize.FASTOCTREE}[method]

    def run(im: Image.Image, k: int) -> Any:
        return im.quantize(k, method=m, kmeans=kmeans, dither=Image.Dither.NONE)

    return Image.fromarray, run


def _imagequant() -> Method:
    import imagequant

    def run(im: Image.Image, k: int) -> Any:
        return imagequant.quantize_pil_image(im, dithering_level=0.0, max_colors=k)

    return (lambda a: Image.fromarray(a).convert("RGBA")), run


ANCHORS: dict[str, Callable[[], Method]] = {
    "qfast": lambda: _qfast("kmeans"),
    "qfast-median-cut": lambda: _qfast("median-cut"),
    "cv2.kmeans": _cv2,
    "sklearn": _sklearn,
    "faiss": _faiss,
    "pillow-mediancut": lambda: _pillow("mediancut"),
    "pillow-fastoctree": lambda: _pillow("fastoctree"),
    "pillow-mediancut+kmeans": lambda: _pillow("mediancut", kmeans=1),
    "imagequant": _imagequant,
}
#: Anchors that take seconds per image: run once per image, not --repeat times.
SLOW = {"cv2.kmeans", "sklearn", "faiss", "pillow-mediancut+kmeans"}


def reconstruct(out: Any, shape: tuple[int, ...]) -> np.ndarray:
    if isinstance(out, Image.Image):
        return np.asarray(out.convert("RGB"))
    pal, idx = out
    return np.asarray(pal)[np.asarray(idx).reshape(shape[:2])]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def measure(method: Method, img: np.ndarray, k: int, repeat: int) -> tuple[float, float]:
    prepare, run = method
    x = prepare(img)
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = run(x, k)
        best = min(best, time.perf_counter() - t)
    return best, psnr(img, reconstruct(out, img.shape))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kodak", type=Path, default=KODAK, help=f"folder of the Kodak PNGs (default {KODAK})")
    ap.add_argument("--images", type=int, default=24, help="use the first N images (default 24)")
    ap.add_argument("--ks", default="2,4,8,16,32,64,128,256", help="palette sizes (default 2,4,...,256)")
    ap.add_argument("--anchors", default=",".join(ANCHORS), help="comma-separated methods (default: all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per image for the fast methods (best counts)")
    ap.add_argument("--no-big", action="store_true", help="skip the 4000x3000 run")
    args = ap.parse_args(argv)

    files = sorted(args.kodak.glob("*.png"))[: args.images]
    if not files:
        print(f"no PNG files in {args.kodak}", file=sys.stderr)
        return 1
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    ks = [int(k) for k in args.ks.split(",")]
    methods: dict[str, Method] = {}
    for name in args.anchors.split(","):
        try:
            methods[name] = ANCHORS[name]()
        except ImportError as e:
            print(f"# skipping {name}: {e}")
    print(
        f"# {len(images)} Kodak images {images[0].shape[1]}x{images[0].shape[0]}, qfast {qfast.__version__} with "
        f"{qfast._core.thread_count()} threads; anchors with {THREADS} threads where they take a count"
    )
    print(
        f"# time: median over images of the best of {args.repeat} runs (1 for {', '.join(sorted(SLOW))});"
        " PSNR: mean over images"
    )

    results: dict[tuple[str, int], tuple[float, float]] = {}
    for k in ks:
        for name, m in methods.items():
            times, psnrs = [], []
            for img in images:
                t, p = measure(m, img, k, 1 if name in SLOW else args.repeat)
                times.append(t)
                psnrs.append(p)
            results[name, k] = (statistics.median(times), float(np.mean(psnrs)))
            t, p = results[name, k]
            print(f"  K={k:<3} {name:<24} {t * 1e3:9.1f} ms {p:7.2f} dB", file=sys.stderr, flush=True)

    base = "qfast" if "qfast" in methods else next(iter(methods))
    print()
    print(f"| K | method | time (ms) | x {base} time | PSNR (dB) | dB vs {base} |")
    print("|---|---|---|---|---|---|")
    for k in ks:
        bt, bp = results[base, k]
        for name in methods:
            t, p = results[name, k]
            print(f"| {k} | {name} | {t * 1e3:.1f} | {t / bt:.2f} | {p:.2f} | {p - bp:+.2f} |")

    if not args.no_big:
        big_methods = {n: m for n, m in methods.items() if n not in SLOW}
        src = Image.open(files[-1]).convert("RGB").resize((4000, 3000), Image.Resampling.BICUBIC)
        big = np.asarray(src)
        print()
        print(f"# 4000x3000 ({big.shape[0] * big.shape[1] / 1e6:.0f} MP, {files[-1].name} upscaled), one run each")
        print("| K | method | time (ms) | PSNR (dB) |")
        print("|---|---|---|---|")
        for k in (16, 256):
            for name, m in big_methods.items():
                t, p = measure(m, big, k, 1)
                print(f"| {k} | {name} | {t * 1e3:.0f} | {p:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
