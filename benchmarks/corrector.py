"""The QANN corrector's two shipped models, fp32 and int8, side by side: time per image and PSNR.

    python benchmarks/corrector.py [--repeat N] [--levels L]

On the bundled 768 x 512 photo quantized to L levels (mid-bin), ``Corrector.correct`` with each model, the models
taking turns so that both see the same machine load; each time is the median of N runs after a warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import qfast


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repeat", type=int, default=15)
    p.add_argument("--levels", type=int, default=8)
    args = p.parse_args(argv)
    img = qfast.samples.load()
    mid = qfast.quantize_uniform(img, args.levels)
    models = {name: qfast.Corrector(name) for name in ("default", "int8")}
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
        print(f"| {name} | {ms[name]:.1f} | {db:.2f} | {', '.join(c.providers)} |")
    print(f"int8 is {ms['default'] / ms['int8']:.2f}x the speed of fp32")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
