"""The .qfz codec on the 24 Kodak images next to JPEG-LS, PNG, WebP, JPEG XL, JPEG and AVIF: a table and a plot.

    pip install ".[bench]"
    python benchmarks/codec.py [--kodak DIR] [--plot codec-rd.png] [--limit N]

Bounded mode (max error d = 0, 1, 2, 4, 8) is compared with JPEG-LS near-lossless (CharLS through imagecodecs,
``level=d``) and the lossless PNG, WebP and JPEG XL; levels mode with JPEG, WebP and AVIF (Pillow) at matched bpp
(their PSNR interpolated at qfast's bpp along a quality sweep). Every figure is a mean over the images (times: the
median, in ms per image, on this machine as it is loaded). The corrector column is filled when ``qfast.Corrector``
is installed.
"""

from __future__ import annotations

import argparse
import io
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


LEVELS = {
    "qfast levels": [(L, {"levels": L}) for L in (6, 8, 12, 16, 24, 32)],
    # chroma with twice the levels of luma, as target_bpp's rate control does
    "qfast levels YCbCr 4:2:0": [
        (L, {"levels": _rate_levels(L, 3, "ycbcr"), "subsample": True})
        for L in (12, 16, 20, 24, 32, 48, 64, 96, 128)
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


def main(argv: Optional[list[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--kodak", type=Path, default=_default_kodak(), help="folder of kodim*.png")
    p.add_argument("--plot", type=Path, default=Path("codec-rd.png"), help="rate-distortion plot to write")
    p.add_argument("--limit", type=int, default=24, help="use the first N images")
    args = p.parse_args(argv)
    files = sorted(args.kodak.glob("kodim*.png"))[: args.limit]
    if not files:
        print(f"no kodim*.png in {args.kodak}", file=sys.stderr)
        return 1
    images = [np.asarray(Image.open(f).convert("RGB")) for f in files]
    print(
        f"{len(images)} images, qfast {qfast.__version__}, corrector: {'yes' if _has_corrector() else 'no'}",
        file=sys.stderr,
    )
    bounded = bounded_rows(images)
    ours, curves = levels_rows(images)
    print_tables(bounded, ours, curves)
    plot(args.plot, bounded, ours, curves)
    return 0


if __name__ == "__main__":
    sys.exit(main())
