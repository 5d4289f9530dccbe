"""The .qfz codec next to JPEG-LS, PNG, WebP, JPEG XL, JPEG and AVIF, on Kodak and the other images: tables, plots.

    pip install ".[bench]"
    python benchmarks/codec.py [--kodak DIR] [--other DIR] [--sets kodak,other] [--part all|bounded|levels]
                               [--plot codec-rd.png] [--plot-lossless codec-lossless.png] [--limit N]
                               [--repeat N] [--only REGEX]

Bounded mode (max error d = 0, 1, 2, 4, 8, ``corrector=None``) at each effort (0: the fast LOCO coder; 2: QAC, the
default; 3: QAC2 and 4: QAC3, which also try coding without a colour transform on a sample of rows; and QAC2 in one
pass) is compared with
JPEG-LS near-lossless (CharLS through imagecodecs, ``level=d``), and lossless also with PNG (Pillow), WebP lossless and
JPEG XL lossless at efforts 3, 7 and 9 (libjxl through imagecodecs). For each image the codecs run one after the other
(interleaved, so a change in the machine's load hits them alike); the table gives mean bpp, median ms per image and per
megapixel, and the median over the images of each codec's time divided by JPEG-LS's on the same image. The bound is
checked on every image (the run stops if it fails). ``--plot-lossless`` plots lossless bpp against encode and decode
time per megapixel for each set, qfast's efforts as points beside the other codecs. Levels mode (Kodak) is compared with
JPEG, WebP and AVIF (Pillow) at matched bpp (their PSNR interpolated at qfast's bpp along a quality sweep). The
corrector column is filled when ``qfast.Corrector`` is installed. qfast runs with its default threads (QAC: one per
plane; LOCO: its stripes on all cores); run under ``taskset -c 0`` for one-thread figures. ``--repeat 3`` times each
call three times in a row and keeps the fastest (calls over a second run once), which takes out the cold start a
codec pays after the others ran; ``--only "LOCO|QAC[)]"`` keeps the codecs whose names match (and JPEG-LS).
"""

from __future__ import annotations

import argparse
import io
import os
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Optional

import numpy as np
from PIL import Image

import qfast
from qfast.codec import _rate_levels

Codec = Callable[[np.ndarray], tuple[bytes, Callable[[], np.ndarray]]]


def _default_kodak() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"


def _default_other() -> Path:
    return Path(__file__).resolve().parents[2] / "shared" / "data" / "other"


def _timed(f: Callable[[], object]) -> tuple[object, float]:
    t = time.perf_counter()
    out = f()
    return out, 1000 * (time.perf_counter() - t)


def _pil_codec(fmt: str, **kw: object) -> Callable[[np.ndarray], bytes]:
    def enc(img: np.ndarray) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=fmt, **kw)
        return buf.getvalue()

    return enc


def _pil_decode(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("RGB"))


def measure(
    images: list[np.ndarray],
    encode: Callable[[np.ndarray], bytes],
    decode: Callable[[bytes], np.ndarray],
    correct: Optional[Callable[[bytes], np.ndarray]] = None,
) -> dict:
    """Mean bpp, PSNR, SSIM, max error (with and without the corrector), PSNR after the corrector, and median
    encode / decode ms (decode without the corrector) over ``images``."""
    rows = []
    for img in images:
        data, te = _timed(lambda img=img: encode(img))
        out, td = _timed(lambda data=data: decode(data))
        r = {
            "bpp": 8 * len(data) / (img.shape[0] * img.shape[1]),
            "psnr": qfast.psnr(img, out),
            "ssim": qfast.ssim(img, out),
            "max": int(np.abs(img.astype(int) - out).max()),
            "enc": te,
            "dec": td,
        }
        if correct is not None:
            fixed = correct(data)
            r["psnr_c"] = qfast.psnr(img, fixed)
            r["max"] = max(r["max"], int(np.abs(img.astype(int) - fixed).max()))
        rows.append(r)
    out_row = {k: statistics.fmean(r[k] for r in rows) for k in ("bpp", "ssim")}
    psnrs = [r["psnr"] for r in rows]
    out_row["psnr"] = statistics.fmean(psnrs) if all(np.isfinite(psnrs)) else float("inf")
    out_row["max"] = max(r["max"] for r in rows)
    out_row["enc"] = statistics.median(r["enc"] for r in rows)
    out_row["dec"] = statistics.median(r["dec"] for r in rows)
    if correct is not None:
        out_row["psnr_c"] = statistics.fmean(r["psnr_c"] for r in rows)
    return out_row


def _has_corrector() -> bool:
    from qfast.codec import _shipped_corrector

    return _shipped_corrector() is not None


def bounded_rows(images: list[np.ndarray]) -> list[tuple[str, dict]]:
    import imagecodecs

    rows: list[tuple[str, dict]] = []
    corr = _has_corrector()
    for d in (0, 1, 2, 4, 8):
        print(f"  bounded d={d}", file=sys.stderr, flush=True)
        # Without a corrector: bins of 2d + 1 values, the smallest file for the bound.
        rows.append(
            (
                f"qfast d={d}",
                measure(
                    images,
                    lambda im, d=d: qfast.encode(im, max_error=d, corrector=None),
                    lambda b: qfast.decode(b, correct=False),
                ),
            )
        )
        if corr and d > 0:
            # With the corrector (the default where it is installed): narrower bins, corrected within the bound.
            rows.append(
                (
                    f"qfast d={d} + corrector",
                    measure(
                        images,
                        lambda im, d=d: qfast.encode(im, max_error=d),
                        lambda b: qfast.decode(b, correct=False),
                        qfast.decode,
                    ),
                )
            )
        if d == 0:
            rows.append(
                (
                    "qfast d=0 (Brotli coder)",
                    measure(images, lambda im: qfast.encode(im, max_error=0, effort=1), lambda b: qfast.decode(b)),
                )
            )
        rows.append(
            (
                f"JPEG-LS d={d}",
                measure(
                    images, lambda im, d=d: bytes(imagecodecs.jpegls_encode(im, level=d)), imagecodecs.jpegls_decode
                ),
            )
        )
    print("  lossless anchors", file=sys.stderr, flush=True)
    rows.append(("PNG", measure(images, _pil_codec("PNG"), _pil_decode)))
    rows.append(
        (
            "WebP lossless",
            measure(images, lambda im: bytes(imagecodecs.webp_encode(im, lossless=True)), imagecodecs.webp_decode),
        )
    )
    rows.append(
        (
            "JPEG XL lossless",
            measure(images, lambda im: bytes(imagecodecs.jpegxl_encode(im, lossless=True)), imagecodecs.jpegxl_decode),
        )
    )
    return rows


def _qac2_one_pass(d: int) -> Callable[[np.ndarray], bytes]:
    """QAC2 without effort 3's sampled try without a colour transform: the coder's own speed."""
    from qfast import _core

    def enc(im: np.ndarray) -> bytes:
        c = 1 if im.ndim == 2 else im.shape[2]
        return _core.encode(
            np.ascontiguousarray(im), "bounded", [d] * c, "ycocg" if c > 1 else "none", False, "qac2", 9, b"", None
        )

    return enc


def _pil_decode_as_is(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im)


def _webp_lossless(im: np.ndarray) -> bytes:
    """WebP takes RGB(A) only: a grey image goes in as three equal channels."""
    import imagecodecs

    return bytes(imagecodecs.webp_encode(np.dstack([im] * 3) if im.ndim == 2 else im, lossless=True))


def _webp_decode(data: bytes) -> np.ndarray:
    import imagecodecs

    return imagecodecs.webp_decode(data)


def _bounded_codecs(d: int) -> list[tuple[str, Callable[[np.ndarray], bytes], Callable[[bytes], np.ndarray]]]:
    """The codecs of one row group, JPEG-LS first (the reference of the time ratios)."""
    import imagecodecs

    qdec = lambda b: qfast.decode(b, correct=False)  # noqa: E731
    codecs = [
        ("JPEG-LS", lambda im: bytes(imagecodecs.jpegls_encode(im, level=d)), imagecodecs.jpegls_decode),
        ("qfast effort 0 (LOCO)", lambda im: qfast.encode(im, max_error=d, effort=0, corrector=None), qdec),
        ("qfast effort 2 (QAC)", lambda im: qfast.encode(im, max_error=d, corrector=None), qdec),
        ("qfast effort 3 (QAC2)", lambda im: qfast.encode(im, max_error=d, effort=3, corrector=None), qdec),
        ("qfast effort 4 (QAC3)", lambda im: qfast.encode(im, max_error=d, effort=4, corrector=None), qdec),
        ("qfast QAC2, one pass", _qac2_one_pass(d), qdec),
    ]
    if d == 0:
        codecs += [
            ("qfast effort 1 (Brotli)", lambda im: qfast.encode(im, max_error=0, effort=1), qdec),
            ("PNG", _pil_codec("PNG"), _pil_decode_as_is),
            ("WebP lossless", _webp_lossless, _webp_decode),
        ]
        for e in (3, 7, 9):
            codecs.append(
                (
                    f"JPEG XL e{e}",
                    lambda im, e=e: bytes(imagecodecs.jpegxl_encode(im, lossless=True, effort=e)),
                    imagecodecs.jpegxl_decode,
                )
            )
    return codecs


def _best_of(f: Callable[[], object], repeat: int) -> tuple[object, float]:
    """`f`'s result and its fastest time of `repeat` calls in a row (one call where the first took over a second)."""
    out, best = _timed(f)
    for _ in range(repeat - 1 if best < 1000 else 0):
        best = min(best, _timed(f)[1])
    return out, best


def bounded_table(
    images: list[np.ndarray], ds: tuple[int, ...] = (0, 1, 2, 4, 8), repeat: int = 1, only: str = ""
) -> list[tuple[int, str, dict]]:
    """Bounded and lossless rows: for each d and image, every codec in turn (interleaved; each call timed `repeat`
    times in a row, the fastest kept); means of bpp and PSNR, medians of ms per image and per megapixel, and medians
    of the per-image time ratios to JPEG-LS. `only`: a regular expression the codecs' names must match (JPEG-LS, the
    reference, always runs)."""
    out = []
    for d in ds:
        print(f"  d={d}  load {os.getloadavg()[0]:.2f}", file=sys.stderr, flush=True)
        codecs = [c for c in _bounded_codecs(d) if c[0] == "JPEG-LS" or re.search(only, c[0])]
        per: dict[str, list[dict]] = {name: [] for name, _, _ in codecs}
        for img in images:
            mp = img.shape[0] * img.shape[1] / 1e6
            for name, enc, dec in codecs:
                data, te = _best_of(lambda img=img, enc=enc: enc(img), repeat)
                back, td = _best_of(lambda data=data, dec=dec: dec(data), repeat)
                back = np.asarray(back)
                if back.ndim == 3 and img.ndim == 2:  # WebP's grey comes back as RGB
                    back = back[..., 0]
                back = back.reshape(img.shape)
                worst = int(np.abs(img.astype(int) - back).max())
                if worst > d:
                    raise SystemExit(f"{name} d={d}: max error {worst} on an image of shape {img.shape}")
                per[name].append(
                    {"bpp": 8 * len(data) / (mp * 1e6), "psnr": qfast.psnr(img, back), "enc": te, "dec": td, "mp": mp}
                )
        ref = per["JPEG-LS"]
        for name, rows in per.items():
            psnrs = [r["psnr"] for r in rows]
            out.append(
                (
                    d,
                    name,
                    {
                        "bpp": statistics.fmean(r["bpp"] for r in rows),
                        "psnr": statistics.fmean(psnrs) if all(np.isfinite(psnrs)) else float("inf"),
                        "max": d,
                        "enc": statistics.median(r["enc"] for r in rows),
                        "dec": statistics.median(r["dec"] for r in rows),
                        "enc_mp": statistics.median(r["enc"] / r["mp"] for r in rows),
                        "dec_mp": statistics.median(r["dec"] / r["mp"] for r in rows),
                        "enc_x": statistics.median(r["enc"] / q["enc"] for r, q in zip(rows, ref)),
                        "dec_x": statistics.median(r["dec"] / q["dec"] for r, q in zip(rows, ref)),
                    },
                )
            )
    return out


def print_bounded(title: str, rows: list[tuple[int, str, dict]], load: tuple[float, float]) -> None:
    head = (
        f"| {'d':>2} | {'codec':<24} | {'bpp':>6} | {'enc ms':>7} | {'dec ms':>7} | {'enc ms/MP':>9} | "
        f"{'dec ms/MP':>9} | {'enc / JLS':>9} | {'dec / JLS':>9} |"
    )
    print(f"\n{title} (load average {load[0]:.2f} before, {load[1]:.2f} after; max error d held on every image)\n")
    print(head)
    print("|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|")
    for d, name, r in rows:
        print(
            f"| {d:>2} | {name:<24} | {r['bpp']:6.3f} | {r['enc']:7.1f} | {r['dec']:7.1f} | {r['enc_mp']:9.1f} | "
            f"{r['dec_mp']:9.1f} | {r['enc_x']:9.2f} | {r['dec_x']:9.2f} |"
        )


def plot_lossless(path: Path, tables: dict[str, list[tuple[int, str, dict]]]) -> None:
    """Lossless bpp against encode and decode ms per megapixel, one column of panels per image set."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, len(tables), figsize=(6.5 * len(tables), 8.5), squeeze=False)
    for j, (set_name, rows) in enumerate(tables.items()):
        lossless = [(n, r) for d, n, r in rows if d == 0]
        for i, (key, label) in enumerate((("enc_mp", "encode"), ("dec_mp", "decode"))):
            ax = axes[i][j]
            for n, r in lossless:
                qf = n.startswith("qfast")
                ax.plot(r[key], r["bpp"], "o" if qf else "s", color="C3" if qf else "C0", ms=7 if qf else 6)
                ax.annotate(
                    n.replace("qfast ", ""), (r[key], r["bpp"]), fontsize=7, xytext=(4, 3), textcoords="offset points"
                )
            qpts = sorted((r[key], r["bpp"]) for n, r in lossless if n.startswith("qfast effort"))
            if qpts:
                ax.plot(*zip(*qpts), "-", color="C3", lw=0.8, label="qfast efforts 0-4")
            ax.set_xscale("log")
            ax.set(
                xlabel=f"{label} ms per megapixel (log)",
                ylabel="bits per pixel",
                title=f"Lossless, {set_name}: bpp vs {label} time",
            )
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nlossless bpp-time plot written to {path}")


LEVELS = {
    "qfast levels": [(L, {"levels": L}) for L in (6, 8, 12, 16, 24, 32)],
    # chroma with twice the levels of luma, as target_bpp's rate control does
    "qfast levels YCbCr 4:2:0": [
        (L, {"levels": _rate_levels(L, 3, "ycbcr"), "subsample": True}) for L in (12, 16, 20, 24, 32, 48, 64, 96, 128)
    ],
}
ANCHORS = {
    "JPEG": [(q, _pil_codec("JPEG", quality=q)) for q in (10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 98)],
    "WebP": [(q, _pil_codec("WEBP", quality=q)) for q in (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95, 100)],
    "AVIF": [(q, _pil_codec("AVIF", quality=q, speed=8)) for q in (10, 20, 30, 40, 50, 60, 70, 80, 90, 95)],
}


def _interp(curve: list[dict], bpp: float) -> float:
    xs = [r["bpp"] for r in curve]
    ys = [r["psnr"] for r in curve]
    order = np.argsort(xs)
    xs, ys = np.asarray(xs)[order], np.asarray(ys)[order]
    if bpp < xs[0] or bpp > xs[-1]:
        return float("nan")
    return float(np.interp(bpp, xs, ys))


def levels_rows(images: list[np.ndarray]) -> tuple[dict, dict]:
    corr = _has_corrector()
    ours: dict[str, list[tuple[str, dict]]] = {}
    for name, settings in LEVELS.items():
        print(f"  {name}", file=sys.stderr, flush=True)
        ours[name] = [
            (
                str(L),
                measure(
                    images,
                    lambda im, o=o: qfast.encode(im, **o),
                    lambda b: qfast.decode(b, correct=False),
                    (lambda b: qfast.decode(b, correct=True)) if corr else None,
                ),
            )
            for L, o in settings
        ]
    curves: dict[str, list[dict]] = {}
    for name, settings in ANCHORS.items():
        print(f"  {name} sweep", file=sys.stderr, flush=True)
        curves[name] = [measure(images, enc, _pil_decode) for _, enc in settings]
    return ours, curves


def fmt_psnr(v: float) -> str:
    return "   exact" if v == float("inf") else ("     n/a" if v != v else f"{v:8.2f}")


def print_tables(bounded: list[tuple[str, dict]], ours: dict, curves: dict) -> None:
    head = (
        f"| {'codec':<26} | {'bpp':>6} | {'PSNR dB':>8} | {'+corr.':>8} | {'SSIM':>6} | {'max err':>7} | "
        f"{'enc ms':>7} | {'dec ms':>7} |"
    )
    rule = "|" + "|".join("-" * (len(c)) for c in head.split("|")[1:-1]) + "|"
    print("\nBounded and lossless (Kodak, 24 images, means; times are medians per image)\n")
    print(head)
    print(rule)
    for name, r in bounded:
        print(
            f"| {name:<26} | {r['bpp']:6.3f} | {fmt_psnr(r['psnr'])} | {fmt_psnr(r.get('psnr_c', float('nan')))} "
            f"| {r['ssim']:6.4f} | {r['max']:7d} | {r['enc']:7.1f} | {r['dec']:7.1f} |"
        )
    print("\nLevels mode next to JPEG, WebP, AVIF at the same bpp (their PSNR interpolated along a quality sweep)\n")
    h2 = (
        f"| {'qfast setting':<32} | {'bpp':>6} | {'PSNR dB':>8} | {'+corr.':>8} | {'SSIM':>6} | {'JPEG':>8} | "
        f"{'WebP':>8} | {'AVIF':>8} | {'enc ms':>7} | {'dec ms':>7} |"
    )
    print(h2)
    print("|" + "|".join("-" * (len(c)) for c in h2.split("|")[1:-1]) + "|")
    for name, rows in ours.items():
        for L, r in rows:
            anchors = " | ".join(fmt_psnr(_interp(curves[a], r["bpp"])) for a in ("JPEG", "WebP", "AVIF"))
            print(
                f"| {name + ' L=' + L:<32} | {r['bpp']:6.3f} | {fmt_psnr(r['psnr'])} | "
                f"{fmt_psnr(r.get('psnr_c', float('nan')))} | {r['ssim']:6.4f} | {anchors} | {r['enc']:7.1f} | "
                f"{r['dec']:7.1f} |"
            )


def plot(path: Path, bounded: list[tuple[str, dict]], ours: dict, curves: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(12, 4.8))
    series = (
        ("qfast", "o-", lambda n: n.startswith("qfast d=") and n.count(" ") == 1, "psnr"),
        ("qfast + corrector", "^-", lambda n: n.endswith("+ corrector"), "psnr_c"),
        ("JPEG-LS", "s--", lambda n: n.startswith("JPEG-LS d="), "psnr"),
    )
    for label, style, pick, key in series:
        pts = [(r["bpp"], r[key]) for n, r in bounded if pick(n) and np.isfinite(r.get(key, float("nan")))]
        if pts:
            a.plot(*zip(*pts), style, label=label + " (d = 1, 2, 4, 8)")
    for n, r in bounded:
        if r["psnr"] == float("inf"):
            a.axvline(r["bpp"], lw=0.8, ls=":", color="grey")
            a.text(r["bpp"], 36 + 2 * (hash(n) % 3), n, rotation=90, fontsize=7, va="bottom")
    a.set(xlabel="bits per pixel", ylabel="PSNR (dB)", title="Bounded error vs JPEG-LS (lossless: dotted)")
    a.grid(alpha=0.3)
    a.legend(fontsize=8)
    for name, pts in curves.items():
        b.plot([r["bpp"] for r in pts], [r["psnr"] for r in pts], ".--", label=name)
    for name, rows in ours.items():
        b.plot([r["bpp"] for _, r in rows], [r["psnr"] for _, r in rows], "o-", label=name)
        if all("psnr_c" in r for _, r in rows):
            b.plot([r["bpp"] for _, r in rows], [r["psnr_c"] for _, r in rows], "^-", label=name + " + corrector")
    b.set(xlabel="bits per pixel", ylabel="PSNR (dB)", title="Levels mode vs lossy codecs", xlim=(0, 5))
    b.grid(alpha=0.3)
    b.legend(fontsize=8)
    fig.suptitle("qfast .qfz on Kodak (24 images, mean)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"\nrate-distortion plot written to {path}")


def _load(folder: Path, limit: int) -> list[np.ndarray]:
    files = sorted(f for f in folder.iterdir() if f.suffix.lower() in (".png", ".ppm", ".bmp", ".tif", ".tiff"))
    images = []
    for f in files[:limit]:
        with Image.open(f) as im:
            images.append(np.asarray(im.convert("L" if im.mode in ("L", "I;16", "1") else "RGB")))
    return images


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kodak", type=Path, default=_default_kodak(), help="folder of kodim*.png")
    p.add_argument("--other", type=Path, default=_default_other(), help="folder of other images (PNG)")
    p.add_argument("--sets", default="kodak,other", help="image sets for the bounded/lossless part")
    p.add_argument(
        "--part",
        choices=("all", "bounded", "levels"),
        default="all",
        help="bounded: the interleaved bounded and lossless tables per set; levels: Kodak's levels mode "
        "and corrector rows with the rate-distortion plot",
    )
    p.add_argument("--plot", type=Path, default=Path("codec-rd.png"), help="rate-distortion plot to write")
    p.add_argument("--plot-lossless", type=Path, default=Path("codec-lossless.png"), help="lossless bpp-time plot")
    p.add_argument("--limit", type=int, default=1000, help="use the first N images of each set")
    p.add_argument(
        "--repeat", type=int, default=1, help="bounded part: time each call N times in a row and keep the fastest"
    )
    p.add_argument("--only", default="", help="bounded part: the codecs whose names match this regular expression")
    args = p.parse_args(argv)
    folders = {"kodak": args.kodak, "other": args.other}
    sets = [n for n in args.sets.split(",") if n]
    unknown = [n for n in sets if n not in folders]
    if unknown:
        print(f"unknown set(s) {unknown}: expected kodak, other", file=sys.stderr)
        return 1
    data = {n: _load(folders[n], args.limit) for n in sets if folders[n].is_dir()}
    if not data or any(not v for v in data.values()):
        print(f"no images in {[str(folders[n]) for n in sets]}", file=sys.stderr)
        return 1
    print(
        f"qfast {qfast.__version__}, corrector: {'yes' if _has_corrector() else 'no'}, "
        + ", ".join(f"{n}: {len(v)} images" for n, v in data.items()),
        file=sys.stderr,
    )
    if args.part in ("all", "bounded"):
        tables = {}
        for name, images in data.items():
            print(f"{name}, bounded and lossless", file=sys.stderr, flush=True)
            before = os.getloadavg()[0]
            rows = bounded_table(images, repeat=args.repeat, only=args.only)
            tables[name] = rows
            mp = statistics.fmean(im.shape[0] * im.shape[1] for im in images) / 1e6
            title = f"Bounded and lossless, {name} ({len(images)} images, {mp:.2f} MP on average)"
            print_bounded(title, rows, (before, os.getloadavg()[0]))
        plot_lossless(args.plot_lossless, tables)
    if args.part in ("all", "levels"):
        images = data.get("kodak") or _load(args.kodak, args.limit)
        bounded = bounded_rows(images)
        ours, curves = levels_rows(images)
        print_tables(bounded, ours, curves)
        plot(args.plot, bounded, ours, curves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
