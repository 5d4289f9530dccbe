"""Writes the fuzzers' seed corpus: small valid .qfz files of every kind, so mutations start inside the decoders.

Run from the repository root with qfast installed: ``python rust/fuzz/make_seeds.py``. The files (rust/fuzz/seeds/)
are committed; CI's fuzz runs read them beside a fresh corpus of their own. Each is a crop of the bundled photo
small enough (about 0.1 to 1 KB) for libFuzzer's mutations to stay fast.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import qfast

OUT = Path(__file__).resolve().parent / "seeds"


def kinds(rgb: np.ndarray) -> dict[str, tuple[np.ndarray, dict]]:
    grey = np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8))
    ramp = np.linspace(0, 255, rgb.shape[0] * rgb.shape[1]).astype(np.uint8).reshape(rgb.shape[:2])
    rgba = np.dstack([rgb, ramp])
    none = {"corrector": None}
    return {
        "lossless-ycocg-qac": (rgb, {"max_error": 0, **none}),
        "lossless-rgb-qac": (rgb, {"max_error": 0, "color": "rgb", **none}),
        "lossless-ycocg-brotli": (rgb, {"max_error": 0, "effort": 1, **none}),
        "bounded2-ycocg-qac": (rgb, {"max_error": 2, **none}),
        "bounded-per-channel-rgb": (rgb, {"max_error": [1, 3, 8], "color": "rgb", **none}),
        "bounded4-brotli": (rgb, {"max_error": 4, "effort": 1, **none}),
        "bounded2-uniform-bins-v2": (rgb, {"max_error": 2, "corrector": "auto"}),
        "bounded3-rgba": (rgba, {"max_error": 3, **none}),
        "lossless-rgba-brotli": (rgba, {"max_error": 0, "effort": 1, **none}),
        "bounded2-grey": (grey, {"max_error": 2, **none}),
        "lossless-grey-brotli": (grey, {"max_error": 0, "effort": 1, **none}),
        "levels8-ycocg": (rgb, {"levels": 8, **none}),
        "levels-per-channel-rgb": (rgb, {"levels": [4, 16, 64], "color": "rgb", **none}),
        "levels16-ycbcr": (rgb, {"levels": 16, "color": "ycbcr", **none}),
        "levels32-ycbcr420": (rgb, {"levels": 32, "subsample": True, **none}),
        "levels32-ycbcr420-brotli": (rgb, {"levels": 32, "subsample": True, "effort": 1, **none}),
        "levels8-rgba": (rgba, {"levels": 8, **none}),
        "levels4-grey": (grey, {"levels": 4, **none}),
        "levels2-grey-brotli": (grey, {"levels": 2, "effort": 1, **none}),
        "levels-with-corrector-id": (rgb, {"levels": 16, "corrector": "auto"}),
        "lossless-ycocg-qac2": (rgb, {"max_error": 0, "effort": 3, **none}),
        "bounded2-rgba-qac2": (rgba, {"max_error": 2, "effort": 3, **none}),
        "levels8-grey-qac2": (grey, {"levels": 8, "effort": 3, **none}),
        "lossless-ycocg-qac3": (rgb, {"max_error": 0, "effort": 4, **none}),
        "bounded2-rgba-qac3": (rgba, {"max_error": 2, "effort": 4, **none}),
        "levels8-grey-qac3": (grey, {"levels": 8, "effort": 4, **none}),
        "lossless-ycocg-loco": (rgb, {"max_error": 0, "effort": 0, **none}),
        "bounded2-rgba-loco": (rgba, {"max_error": 2, "effort": 0, **none}),
        "levels32-ycbcr420-loco": (rgb, {"levels": 32, "subsample": True, "effort": 0, **none}),
        "levels4-grey-loco": (grey, {"levels": 4, "effort": 0, **none}),
    }


def main() -> None:
    photo = qfast.samples.load()
    rgb = np.ascontiguousarray(photo[200:224, 300:332])  # 32 x 24, an edge and a flat area
    OUT.mkdir(exist_ok=True)
    for name, (img, opts) in kinds(rgb).items():
        data = qfast.encode(img, **opts)
        assert qfast.decode(data, correct=False).shape == img.shape
        (OUT / f"{name}.qfz").write_bytes(data)
        print(f"{name}.qfz: {len(data)} bytes")
    # Version 4: a strength map (every code, on 32-pixel tiles) over a file that names a corrector.
    plain = qfast.encode(np.tile(rgb, (2, 3, 1)), levels=16, corrector="auto", strength_map=False)
    data = qfast._core.with_strength_map(plain, 32, np.array([[0, 1, 2], [2, 1, 0]], np.uint8))
    (OUT / "levels16-strength-map-v4.qfz").write_bytes(data)
    print(f"levels16-strength-map-v4.qfz: {len(data)} bytes")


if __name__ == "__main__":
    main()
