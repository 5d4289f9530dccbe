"""Colour palettes, qfast next to the anchors: time (palette + remap) and PSNR on the Kodak images.

Run from the repository root:

    python benchmarks/palette.py                      # everything the issue asks for (many minutes)
    python benchmarks/palette.py --ks 16,256 --anchors imagequant,pillow-fastoctree --images 8
    python benchmarks/palette.py --images 2 --sections pngquant,dither,rgba,large-k   # a quick look

Sections (``--sections``, default all):

- ``table``: every anchor at every K (``--ks``), then the 4000x3000 run (``--no-big`` skips it);
- ``pngquant``: the ``qfast palette`` command against the ``pngquant`` command on the same PNG, each timed as a
  whole process (start-up, reading, quantizing, writing), with file size and PSNR, without and with dithering;
- ``dither``: qfast's error diffusion (Floyd-Steinberg, Atkinson) against libimagequant's dithering, and its
  scaling: the same remap (and Floyd-Steinberg on the RGBA images of ``rgba``) with 1 thread and with all, beside
  the host's ceiling (one single-thread process per core at once: what the cores give to work with no dependency at
  all);
- ``rgba``: Kodak with a synthetic alpha ramp (left to right 0..255, the top eighth fully transparent), qfast
  against imagequant and pngquant; the PSNR is over premultiplied RGBA (R a, G a, B a, a), what a viewer shows
  over black. If qfast gives an RGB palette for RGBA, the section says so and stops;
- ``large-k``: K = 1024 and 4096 (``--large-ks``): qfast against scikit-learn's MiniBatchKMeans and faiss at equal
  quality: each anchor runs with more iterations (a ladder) until its PSNR reaches qfast's (within 0.05 dB) or its
  time passes ``--large-k-budget`` seconds; the table gives the run that got there, or the last one.

Every method gets the same uint8 RGB pixels and returns a palette image; the time is the median over the images of
the best of ``--repeat`` runs (one run for the slow k-means anchors), counting only the library call(s) that make
the palette and map the pixels (conversions into the library's own input type are done before the clock starts).
PSNR is over R, G and B, averaged over the images. Libraries that take a thread count get 2 threads (this machine's
core count); qfast uses its rayon pool (all cores). Anchors that are not installed are skipped with a note.
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
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


def load_images(folder: Path, n: int) -> tuple[list[Path], list[np.ndarray]]:
    files = sorted(folder.glob("*.png"))[:n]
    return files, [np.asarray(Image.open(f).convert("RGB")) for f in files]


def table(args: argparse.Namespace, files: list[Path], images: list[np.ndarray]) -> None:
    """Every anchor at every K on the images, then the 4000x3000 run."""
    ks = [int(k) for k in args.ks.split(",")]
    methods: dict[str, Method] = {}
    for name in args.anchors.split(","):
        try:
            methods[name] = ANCHORS[name]()
        except ImportError as e:
            print(f"# skipping {name}: {e}")
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
    for k in ks:
        if ("qfast", k) in results and ("imagequant", k) in results:
            (qt, qp), (it, ip) = results["qfast", k], results["imagequant", k]
            print(f"# K={k}: qfast {it / qt:.2f}x libimagequant's speed, {qp - ip:+.2f} dB")

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


def process_time(cmd: list[str], repeat: int) -> float:
    """The best wall time of ``repeat`` runs of a command, as a whole process."""
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - t)
    return best


def pngquant_section(args: argparse.Namespace, files: list[Path], images: list[np.ndarray]) -> None:
    """``qfast palette`` against ``pngquant``, each a whole process on the same PNG file."""
    exe = shutil.which("pngquant")
    if exe is None:
        print("# skipping pngquant: the pngquant command is not installed (Debian: apt-get install pngquant)")
        return
    version = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip()
    qfast_cmd = [sys.executable, "-m", "qfast", "palette"]
    print()
    print(f"# qfast palette against pngquant {version}: K=256, whole process, best of {args.repeat}; median time,")
    print("# total size, mean PSNR over the images (the PSNR of the PNG each writes, read back)")
    print("| dither | command | time (ms) | x qfast time | size (KiB) | x qfast size | PSNR (dB) | dB vs qfast |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.png"
        for dither, q_extra, pq_extra in (
            ("none", [], ["--nofs"]),
            ("floyd-steinberg", ["--dither", "floyd-steinberg"], []),
        ):
            rows = {}
            for name in ("qfast", "pngquant"):
                times, sizes, psnrs = [], [], []
                for f, img in zip(files, images):
                    if name == "qfast":
                        cmd = [*qfast_cmd, str(f), "-o", str(out), "--colors", "256", "--force", "-q", *q_extra]
                    else:
                        cmd = [exe, "256", "--force", "--output", str(out), *pq_extra, str(f)]
                    times.append(process_time(cmd, args.repeat))
                    sizes.append(out.stat().st_size)
                    psnrs.append(psnr(img, np.asarray(Image.open(out).convert("RGB"))))
                rows[name] = (statistics.median(times), sum(sizes), float(np.mean(psnrs)))
            bt, bs, bp = rows["qfast"]
            for name, (t, n, p) in rows.items():
                print(
                    f"| {dither} | {name} | {t * 1e3:.0f} | {t / bt:.2f} | {n / 1024:.0f} | {n / bs:.3f} | {p:.2f} | "
                    f"{p - bp:+.2f} |",
                    flush=True,
                )


#: A child for the scaling measurement: it loads the images (and their RGBA versions, `with_alpha`), then answers
#: each line "image dither threads rgba" on its standard input with the seconds one remap took (on a pool of that
#: many threads).
_SCALING = """
import sys, time
import numpy as np
import qfast
from PIL import Image
sys.path.insert(0, sys.argv[1])
from palette import with_alpha
images = [np.asarray(Image.open(path).convert("RGB")) for path in sys.argv[2:]]
palettes = [qfast.kmeans_palette(img, 256) for img in images]
rgba = [with_alpha(img) for img in images]
rgba_palettes = [qfast.quantize_colors(img, 256).palette for img in rgba]
print(qfast._core.thread_count(), flush=True)
for line in sys.stdin:
    i, d, n, a = line.split()
    qfast._core.set_thread_count(int(n))
    img, pal = (rgba[int(i)], rgba_palettes[int(i)]) if a == "1" else (images[int(i)], palettes[int(i)])
    t = time.perf_counter()
    qfast.remap(img, pal, dither=d)
    print(time.perf_counter() - t, flush=True)
"""


def dither_section(args: argparse.Namespace, files: list[Path], images: list[np.ndarray]) -> None:
    """Error diffusion: qfast against libimagequant's dithering (each image through every method in turn, so a drift
    of the host's speed hits them alike), and qfast on 1 thread against all."""
    methods: dict[str, Method] = {}
    for d in ("floyd-steinberg", "atkinson"):

        def run(img: np.ndarray, k: int, d: str = d) -> Any:
            q = qfast.quantize_colors(img, k, dither=d)
            return q.palette, q.indices

        methods[f"qfast {d}"] = ((lambda a: a), run)
    skipped = ""
    try:
        import imagequant

        def iq(im: Image.Image, k: int) -> Any:
            return imagequant.quantize_pil_image(im, dithering_level=1.0, max_colors=k)

        methods["imagequant dithered"] = ((lambda a: Image.fromarray(a).convert("RGBA")), iq)
    except ImportError as e:
        skipped = f"# skipping imagequant: {e}"
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in methods}
    for img in images:
        for name, m in methods.items():
            results[name].append(measure(m, img, 256, args.repeat))
    print()
    print(
        f"# dithering at K=256, interleaved by image: median over images of the best of {args.repeat} runs;"
        " PSNR mean over images"
    )
    if skipped:
        print(skipped)
    print("| method | time (ms) | PSNR (dB) |")
    print("|---|---|---|")
    for name, rows in results.items():
        times, psnrs = zip(*rows)
        print(f"| {name} | {statistics.median(times) * 1e3:.1f} | {np.mean(psnrs):.2f} |", flush=True)

    scaling_section(args, files)


def scaling_section(args: argparse.Namespace, files: list[Path]) -> None:
    """Error diffusion on 1 thread against all, beside what the host gives to work with no dependency at all.

    This host's speed drifts by tens of percent over seconds, so the three runs are interleaved image by image,
    repeat by repeat, and each takes the best of its repeats: the remap on one thread; on all (one process each);
    and the host's ceiling, one single-thread remap per core in that many processes at the same time."""
    cmd = [sys.executable, "-c", _SCALING, str(Path(__file__).resolve().parent), *map(str, files)]
    env = {k: v for k, v in os.environ.items() if k != "RAYON_NUM_THREADS"}
    first = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert first.stdout is not None
    n = int(first.stdout.readline())
    kids = [first] + [
        subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env) for _ in range(n - 1)
    ]
    for kid in kids[1:]:
        assert kid.stdout is not None
        kid.stdout.readline()

    def run(which: list[subprocess.Popen[str]], i: int, d: str, threads: int) -> list[float]:
        dither, _, alpha = d.partition(" ")
        for kid in which:
            assert kid.stdin is not None
            kid.stdin.write(f"{i} {dither} {threads} {int(bool(alpha))}\n")
            kid.stdin.flush()
        return [float(kid.stdout.readline()) for kid in which if kid.stdout is not None]

    dithers = ("floyd-steinberg", "atkinson", "floyd-steinberg RGBA")
    best: dict[tuple[str, str, int], float] = {}
    for _ in range(args.repeat):
        for i in range(len(files)):
            for d in dithers:
                for key, t in (
                    ("one", run([first], i, d, 1)[0]),
                    ("all", run([first], i, d, n)[0]),
                    ("apart", statistics.mean(run(kids, i, d, 1))),
                ):
                    best[(key, d, i)] = min(best.get((key, d, i), float("inf")), t)
    for kid in kids:
        assert kid.stdin is not None
        kid.stdin.close()
        kid.wait()
    print()
    print(
        f"# error diffusion (remap only, K=256; RGBA: the images with an alpha ramp) on 1 thread and on {n},"
        " interleaved: median over images of the best of"
        f" {args.repeat}. Host ceiling: {n} single-thread processes at once, {n} x the one-thread time over their"
        " mean time (what this machine gives to work with no dependency between the cores)"
    )
    print(f"| dither | 1 thread (ms) | {n} threads (ms) | speed-up | host ceiling | speed-up / ceiling |")
    print("|---|---|---|---|---|---|")
    for d in dithers:
        t1, tn, tp = (statistics.median(best[(k, d, i)] for i in range(len(files))) for k in ("one", "all", "apart"))
        ceiling = n * t1 / tp
        print(f"| {d} | {t1 * 1e3:.1f} | {tn * 1e3:.1f} | {t1 / tn:.2f}x | {ceiling:.2f}x | {t1 / tn / ceiling:.2f} |")


def with_alpha(img: np.ndarray) -> np.ndarray:
    """``img`` with an alpha ramp: 0..255 from left to right, and the top eighth fully transparent."""
    h, w = img.shape[:2]
    a = np.broadcast_to(np.linspace(0, 255, w).round().astype(np.uint8), (h, w)).copy()
    a[: h // 8] = 0
    return np.concatenate([img, a[..., None]], axis=2)


def premultiplied(rgba: np.ndarray) -> np.ndarray:
    x = rgba.astype(np.float64)
    return np.concatenate([x[..., :3] * x[..., 3:] / 255, x[..., 3:]], axis=2)


def rgba_section(args: argparse.Namespace, files: list[Path], images: list[np.ndarray]) -> None:
    """RGBA palettes: qfast, imagequant and pngquant on Kodak with an alpha ramp."""
    rgba = [with_alpha(img) for img in images]
    probe = qfast.quantize_colors(rgba[0], 16)
    if probe.palette.shape[1] != 4:
        print()
        print(
            "# skipping rgba: qfast.quantize_colors gave an RGB palette for an RGBA image (alpha untouched); "
            "the section runs once RGBA palettes are in"
        )
        return

    def score(src: np.ndarray, out: np.ndarray) -> float:
        mse = float(np.mean((premultiplied(src) - premultiplied(out)) ** 2))
        return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)

    print()
    print(f"# RGBA (alpha ramp), K=256: median time of the best of {args.repeat} runs, PSNR over premultiplied RGBA")
    print("| method | time (ms) | PSNR (dB) | size (KiB) |")
    print("|---|---|---|---|")
    rows = []
    for dither in ("none", "floyd-steinberg"):
        times, psnrs, sizes = [], [], []
        for src in rgba:
            best, q = float("inf"), None
            for _ in range(args.repeat):
                t = time.perf_counter()
                q = qfast.quantize_colors(src, 256, dither=dither)
                best = min(best, time.perf_counter() - t)
            buf = io.BytesIO()
            q.to_pil().save(buf, "PNG")
            back = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGBA"))
            times.append(best)
            psnrs.append(score(src, back))
            sizes.append(len(buf.getvalue()))
        rows.append((f"qfast {dither}", statistics.median(times), float(np.mean(psnrs)), sum(sizes)))
    try:
        import imagequant

        for level in (0.0, 1.0):
            times, psnrs = [], []
            for src in rgba:
                im = Image.fromarray(src)
                best, out = float("inf"), None
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    out = imagequant.quantize_pil_image(im, dithering_level=level, max_colors=256)
                    best = min(best, time.perf_counter() - t)
                times.append(best)
                psnrs.append(score(src, np.asarray(out.convert("RGBA"))))
            rows.append((f"imagequant dithering {level}", statistics.median(times), float(np.mean(psnrs)), None))
    except ImportError as e:
        print(f"# skipping imagequant: {e}")
    exe = shutil.which("pngquant")
    if exe:
        with tempfile.TemporaryDirectory() as tmp:
            for extra, label in ((["--nofs"], "none"), ([], "floyd-steinberg")):
                times, psnrs, sizes = [], [], []
                for i, src in enumerate(rgba):
                    inp, out = Path(tmp) / f"in{i}.png", Path(tmp) / "out.png"
                    Image.fromarray(src).save(inp)
                    times.append(
                        process_time([exe, "256", "--force", "--output", str(out), *extra, str(inp)], args.repeat)
                    )
                    psnrs.append(score(src, np.asarray(Image.open(out).convert("RGBA"))))
                    sizes.append(out.stat().st_size)
                rows.append(
                    (f"pngquant {label} (whole process)", statistics.median(times), float(np.mean(psnrs)), sum(sizes))
                )
    for name, t, p, n in rows:
        size = "" if n is None else f"{n / 1024:.0f}"
        print(f"| {name} | {t * 1e3:.1f} | {p:.2f} | {size} |", flush=True)


def _large_anchors() -> dict[str, Callable[[np.ndarray, int, int], Any]]:
    """name -> run(float32 pixels (n, 3), k, iterations) -> (palette, labels)."""
    out: dict[str, Callable[[np.ndarray, int, int], Any]] = {}
    try:
        from sklearn.cluster import MiniBatchKMeans

        def mbk(px: np.ndarray, k: int, it: int) -> Any:
            km = MiniBatchKMeans(n_clusters=k, n_init=1, max_iter=it, batch_size=8192, random_state=0).fit(px)
            return np.clip(np.round(km.cluster_centers_), 0, 255).astype(np.uint8), km.labels_

        out["sklearn MiniBatchKMeans"] = mbk
    except ImportError as e:
        print(f"# skipping sklearn: {e}")
    try:
        import faiss

        faiss.omp_set_num_threads(int(THREADS))

        def fk(px: np.ndarray, k: int, it: int) -> Any:
            km = faiss.Kmeans(3, k, niter=it, seed=0, verbose=False, max_points_per_centroid=1 << 20)
            km.train(px)
            _, labels = km.index.search(px, 1)
            return np.clip(np.round(km.centroids), 0, 255).astype(np.uint8), labels.ravel()

        out["faiss"] = fk
    except ImportError as e:
        print(f"# skipping faiss: {e}")
    return out


def large_k_section(args: argparse.Namespace, files: list[Path], images: list[np.ndarray]) -> None:
    """K = 1024 and 4096: qfast against MiniBatchKMeans and faiss at equal quality (or their best in the budget)."""
    anchors = _large_anchors()
    ladder = (5, 10, 20, 40, 80, 160)
    print()
    print(
        f"# large K, per image: qfast (best of {args.repeat}) against each anchor run with "
        f"{', '.join(map(str, ladder))} iterations until its PSNR is within 0.05 dB of qfast's or a run takes "
        f"over {args.large_k_budget:g} s"
    )
    print("| K | image | method | iterations | time (s) | x qfast time | PSNR (dB) | dB vs qfast |")
    print("|---|---|---|---|---|---|---|---|")
    for k in (int(x) for x in args.large_ks.split(",")):
        for f, img in zip(files, images):
            qt, qp = measure(_qfast("kmeans"), img, k, args.repeat)
            print(f"| {k} | {f.stem} | qfast | default | {qt:.3f} | 1.00 | {qp:.2f} | +0.00 |", flush=True)
            px = np.ascontiguousarray(img.reshape(-1, 3), dtype=np.float32)
            for name, run in anchors.items():
                row = None
                for it in ladder:
                    t0 = time.perf_counter()
                    out = run(px, k, it)
                    t = time.perf_counter() - t0
                    p = psnr(img, reconstruct(out, img.shape))
                    row = (it, t, p)
                    if p >= qp - 0.05 or t > args.large_k_budget:
                        break
                it, t, p = row
                mark = "" if p >= qp - 0.05 else " (not reached)"
                print(
                    f"| {k} | {f.stem} | {name} | {it}{mark} | {t:.3f} | {t / qt:.1f} | {p:.2f} | {p - qp:+.2f} |",
                    flush=True,
                )


SECTIONS = {
    "table": table,
    "pngquant": pngquant_section,
    "dither": dither_section,
    "rgba": rgba_section,
    "large-k": large_k_section,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--kodak", type=Path, default=KODAK, help=f"folder of the Kodak PNGs (default {KODAK})")
    ap.add_argument("--images", type=int, default=24, help="use the first N images (default 24)")
    ap.add_argument(
        "--sections", default=",".join(SECTIONS), help=f"comma-separated sections (default: all: {','.join(SECTIONS)})"
    )
    ap.add_argument("--ks", default="2,4,8,16,32,64,128,256", help="table: palette sizes (default 2,4,...,256)")
    ap.add_argument("--anchors", default=",".join(ANCHORS), help="table: comma-separated methods (default: all)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per image for the fast methods (best counts)")
    ap.add_argument("--no-big", action="store_true", help="table: skip the 4000x3000 run")
    ap.add_argument("--large-ks", default="1024,4096", help="large-k: palette sizes (default 1024,4096)")
    ap.add_argument("--large-k-images", type=int, default=4, help="large-k: use the first N of the images (default 4)")
    ap.add_argument(
        "--large-k-budget", type=float, default=60.0, help="large-k: stop an anchor's ladder after a run this long (s)"
    )
    args = ap.parse_args(argv)

    sections = args.sections.split(",")
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown:
        ap.error(f"--sections: unknown {', '.join(unknown)} (choose from {', '.join(SECTIONS)})")
    files, images = load_images(args.kodak, args.images)
    if not files:
        print(f"no PNG files in {args.kodak}", file=sys.stderr)
        return 1
    print(
        f"# {len(images)} Kodak images {images[0].shape[1]}x{images[0].shape[0]}, qfast {qfast.__version__} with "
        f"{qfast._core.thread_count()} threads; anchors with {THREADS} threads where they take a count"
    )
    for name in sections:
        if name == "large-k":
            large_k_section(args, files[: args.large_k_images], images[: args.large_k_images])
        else:
            SECTIONS[name](args, files, images)
    return 0


if __name__ == "__main__":
    sys.exit(main())
