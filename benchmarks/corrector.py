"""The QANN corrector's two shipped models, fp32 and int8, side by side: time per image and PSNR.

    python benchmarks/corrector.py [--repeat N] [--levels L] [--profile] [--fp32 PATH --int8 PATH]
                                   [--sizes WxH,WxH,...]

On the bundled 768 x 512 photo quantized to L levels (mid-bin), ``Corrector.correct`` with each model, the models
taking turns so that both see the same machine load; each time is the median of N runs after a warm-up.
``--profile`` also prints where each model's time goes: onnxruntime's per-operator kernel times (its profiler),
summed by operator type, per run. ``--fp32`` and ``--int8`` compare other model files (default: the shipped ones).
``--sizes`` then times both models per megapixel on the photo resized to each size (default from 768 to 2048 px
wide), against the 768 x 512 original: the cost of tiling (the target: within 1.15x of 768 x 512 per megapixel).
"""

from __future__ import annotations

import argparse
import collections
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

import qfast
from qfast.corrector import model_path


def profile(name: str, path: Path, image: np.ndarray, levels: int, runs: int, top: int = 8) -> str:
    """The ``top`` operator types by kernel time (ms per run) of the model file ``path`` on ``image``, with the CPU
    provider and, as ``Corrector``, no spinning threads."""
    import onnxruntime as ort

    x = np.ascontiguousarray((image.astype(np.float32) / 255).transpose(2, 0, 1)[None])
    lv = np.full((1, 3), levels, np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        opts = ort.SessionOptions()
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "profile")
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            sess.run(None, {"image": x, "levels": lv})
        events = json.loads(Path(sess.end_profiling()).read_text())
    kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_op: collections.Counter = collections.Counter()
    for e in kernels[len(kernels) // (runs + 1) :]:  # the first run is a warm-up
        per_op[e["args"]["op_name"]] += e["dur"] / 1000 / runs
    total = sum(per_op.values())
    parts = ", ".join(f"{op} {ms:.1f}" for op, ms in per_op.most_common(top))
    return f"{name}: kernels {total:.1f} ms per run; {parts}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--levels", type=int, default=8)
    p.add_argument("--profile", action="store_true", help="also print kernel time by operator type")
    p.add_argument("--fp32", type=Path, default=model_path("default"), help="the fp32 model file")
    p.add_argument("--int8", type=Path, default=model_path("int8"), help="the int8 model file")
    p.add_argument("--sizes", default="768x512,1024x644,1280x853,1536x1024,2048x1365", help="WxH,... ('' for none)")
    args = p.parse_args(argv)
    img = qfast.samples.load()
    mid = qfast.quantize_uniform(img, args.levels)
    models = {"fp32": qfast.Corrector(args.fp32), "int8": qfast.Corrector(args.int8)}
    times: dict[str, list[float]] = {name: [] for name in models}
    for c in models.values():
        c.correct(mid, args.levels)
    for _ in range(args.repeat):
        for name, c in models.items():
            t = time.perf_counter()
            c.correct(mid, args.levels)
            times[name].append(time.perf_counter() - t)
    ms = {name: 1000 * statistics.median(v) for name, v in times.items()}
    size = f"{img.shape[1]} x {img.shape[0]}"
    print(f"{size}, {args.levels} levels, median of {args.repeat}; mid-bin {qfast.psnr(img, mid):.2f} dB")
    print("| model | ms | PSNR dB | providers |\n|---|---|---|---|")
    for name, c in models.items():
        db = qfast.psnr(img, c.correct(mid, args.levels))
        print(f"| {name} ({c.path.name}) | {ms[name]:.1f} | {db:.2f} | {', '.join(c.providers)} |")
    print(f"int8 is {ms['fp32'] / ms['int8']:.2f}x the speed of fp32")
    if args.profile:
        h, w = (s // 16 * 16 for s in mid.shape[:2])
        for name, c in models.items():
            print(profile(name, c.path, mid[:h, :w], args.levels, args.repeat))
    if args.sizes:
        sizes(models, img, args.levels, [tuple(map(int, t.split("x"))) for t in args.sizes.split(",")], args.repeat)
    return 0


def sizes(models: dict, img: np.ndarray, levels: int, whs: list[tuple[int, int]], repeat: int) -> None:
    """Per-megapixel time of each model on the photo resized to each (width, height), relative to 768 x 512; the
    sizes and models take turns in every round, so the load hits them alike."""
    from PIL import Image

    from qfast.corrector import _tile_sides

    mids = {}
    for w, h in whs:
        big = np.asarray(Image.fromarray(img).resize((w, h), Image.Resampling.LANCZOS))
        mids[(w, h)] = qfast.quantize_uniform(big, levels)
    times = {(name, wh): [] for name in models for wh in mids}
    for c in models.values():
        c.correct(mids[whs[0]], levels)
    for _ in range(max(3, repeat // 3)):
        for wh, mid in mids.items():
            for name, c in models.items():
                t = time.perf_counter()
                c.correct(mid, levels)
                times[(name, wh)].append(time.perf_counter() - t)
    print(f"\nper megapixel, median of {max(3, repeat // 3)}, relative to 768 x 512 (target <= 1.15)")
    print("| size | tiles (rows x cols of h x w) | " + " | ".join(f"{n} ms/MP | {n} x" for n in models) + " |")
    print("|---|---|" + "---|---|" * len(models))
    base = {name: statistics.median(times[(name, (768, 512))]) / (768 * 512 / 1e6) for name in models}
    for w, h in mids:
        hp, wp = h + (-h % 16), w + (-w % 16)
        c0 = next(iter(models.values()))
        th, tw = _tile_sides(hp, wp, c0.tile, c0.overlap)
        n_r = len(qfast.corrector._axis_weights(hp, th, c0.overlap))
        n_c = len(qfast.corrector._axis_weights(wp, tw, c0.overlap))
        cells = []
        for name in models:
            per = statistics.median(times[(name, (w, h))]) / (w * h / 1e6)
            cells.append(f"{1000 * per:.0f} | {per / base[name]:.2f}")
        print(f"| {w} x {h} | {n_r} x {n_c} of {th} x {tw} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    raise SystemExit(main())
