"""The codec's strength map: what the encoder's check of the corrector costs (bytes, encode time) and gains (dB).

Run from the repository root (needs the evaluation images beside the checkout):

    python benchmarks/strength.py                 # Kodak and the other set, levels 4/8/16 and max error 2/4
    python benchmarks/strength.py --images 4      # a quick look

For each image and setting it encodes with ``strength_map=True`` (the default) and ``False``, decodes both, and
reports the mean RGB PSNR of: the plain mid-bin decode, the corrector everywhere (no map), and the map; the worst
image's gain over mid-bin with and without the map; the map's bytes; and the encode time with the map against
without (median ratio). One process, run on an idle machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

import qfast

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETTINGS = [{"levels": 4}, {"levels": 8}, {"levels": 16}, {"max_error": 2}, {"max_error": 4}]


def load(folder: Path, n: int | None) -> list[np.ndarray]:
    files = sorted(folder.glob("*.png"))[:n] if n else sorted(folder.glob("*.png"))
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", type=int, help="only the first N images of each set")
    a = ap.parse_args()
    for name, folder in (("Kodak", DATA / "kodak"), ("other", DATA / "other")):
        imgs = load(folder, a.images)
        print(f"\n{name}: {len(imgs)} images")
        print(
            f"{'setting':<14}{'mid-bin':>9}{'corrector':>11}{'map':>8}{'worst gain':>12}{'map worst':>11}"
            f"{'map B':>8}{'encode x':>10}"
        )
        for opts in SETTINGS:
            rows = []
            for img in imgs:
                t = time.perf_counter()
                plain_file = qfast.encode(img, strength_map=False, **opts)
                t1 = time.perf_counter()
                data = qfast.encode(img, **opts)
                t2 = time.perf_counter()
                p = [
                    qfast.psnr(img, x)
                    for x in (qfast.decode(data, correct=False), qfast.decode(plain_file), qfast.decode(data))
                ]
                rows.append((*p, len(data) - len(plain_file), (t2 - t1) / (t1 - t)))
            mid, full, mapped, extra, ratio = (np.array([r[i] for r in rows]) for i in range(5))
            label = ", ".join(f"{k}={v}" for k, v in opts.items())
            print(
                f"{label:<14}{mid.mean():9.2f}{full.mean():11.2f}{mapped.mean():8.2f}{(full - mid).min():+12.2f}"
                f"{(mapped - mid).min():+11.2f}{extra.mean():8.1f}{statistics.median(ratio):9.2f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
