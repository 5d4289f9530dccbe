"""Evaluates the shipped corrector on Kodak and on a set of other pictures; writes the report and the manifest.

For 4, 8, 16, 32 and 64 levels per channel: mean RGB PSNR and SSIM of the mid-bin reconstruction
(``qfast.quantize_uniform``), of the corrected image (fp32 model, with and without ``clamp=True``) and of the int8
model, all through ``qfast.Corrector`` (what users run). Then every level count 2..64 on the 256 x 256 centre crops
of the 24 images (the "never worse than mid-bin" check), and the time of one 768 x 512 image, fp32 and int8. The
table is repeated for ``--other`` (``../shared/data/other``: Set14 and Manga109 covers), beside Kodak: mean gain,
the worst image's gain and SSIM per level.

With ``--ycbcr`` instead, the YCbCr 4:2:0 model: the codec's levels mode (``qfast.encode(img, levels=[L, 2L, 2L],
subsample=True)``) decoded without and with it, for several L: bpp, PSNR, SSIM. Either run updates only its own
entries of ``--manifest``.

Examples:
    python onnx/evaluate.py --fp32 python/qfast/models/qann-<hash>.onnx \\
        --int8 python/qfast/models/qann-int8-<hash>.onnx --checkpoint runs/main/best.pt \\
        --md onnx/RESULTS.md --manifest python/qfast/models/manifest.json
    python onnx/evaluate.py --ycbcr python/qfast/models/qann-ycbcr420-<hash>.onnx --checkpoint runs/ycc/last.pt \\
        --md onnx/RESULTS-ycbcr420.md --manifest python/qfast/models/manifest.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Optional

import numpy as np
from PIL import Image

import qfast
from qfast.codec import _rate_levels

DEFAULT_KODAK = Path(__file__).resolve().parents[2] / "shared" / "data" / "kodak"
DEFAULT_OTHER = Path(__file__).resolve().parents[2] / "shared" / "data" / "other"
TABLE_LEVELS = (4, 8, 16, 32, 64)
TARGETS = {4: (2.5, 4.0), 8: (3.0, 4.5), 16: (2.5, 4.0), 32: (1.5, 2.5), 64: (0.5, 1.0)}  # required, goal (dB)
YCBCR_LEVELS = (6, 8, 12, 16, 20, 24, 32, 48, 64, 96, 128)  # luma levels; chroma gets twice as many (up to 256)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """The command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--fp32", type=Path, help="the RGB model")
    what.add_argument("--ycbcr", type=Path, help="the YCbCr 4:2:0 model")
    p.add_argument("--int8", type=Path, default=None)
    p.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    p.add_argument(
        "--other",
        type=Path,
        default=DEFAULT_OTHER,
        help="the second evaluation set (pictures of other kinds), reported beside Kodak; '' to skip",
    )
    p.add_argument("--checkpoint", type=Path, default=None, help="train.py checkpoint (training budget)")
    p.add_argument("--md", type=Path, required=True, help="Markdown report to write")
    p.add_argument("--manifest", type=Path, default=None, help="manifest JSON to write")
    p.add_argument("--limit", type=int, default=None, help="only the first N images (quick checks)")
    p.add_argument("--hardware-train", default="2 CPU cores (x86_64) shared with other jobs, no GPU")
    return p.parse_args(argv)


def _mean(xs: list[float]) -> float:
    return float(np.mean(xs))


def table(images: list[np.ndarray], fp32: qfast.Corrector, int8: Optional[qfast.Corrector]) -> dict:
    """{levels: {metric: mean}} over the images for TABLE_LEVELS."""
    res = {}
    for L in TABLE_LEVELS:
        cols: dict[str, list[float]] = {
            k: [] for k in ("mid_psnr", "mid_ssim", "psnr", "ssim", "clamp_psnr", "int8_psnr", "worse", "gain")
        }
        for img in images:
            q = qfast.quantize_uniform(img, L)
            out = fp32.correct(q, L)
            lo, hi = qfast.corrector.bin_bounds(q, [L] * 3)
            cl = np.clip(out, lo, hi)
            cols["mid_psnr"].append(qfast.psnr(img, q))
            cols["mid_ssim"].append(qfast.ssim(img, q))
            cols["psnr"].append(qfast.psnr(img, out))
            cols["ssim"].append(qfast.ssim(img, out))
            cols["clamp_psnr"].append(qfast.psnr(img, cl))
            cols["worse"].append(float(cols["psnr"][-1] < cols["mid_psnr"][-1]))
            cols["gain"].append(cols["psnr"][-1] - cols["mid_psnr"][-1])
            if int8 is not None:
                cols["int8_psnr"].append(qfast.psnr(img, int8.correct(q, L)))
        res[L] = {k: _mean(v) for k, v in cols.items() if v}
        res[L]["worst_gain"] = float(min(cols["gain"]))
        res[L]["worse"] = sum(cols["worse"])  # images made worse than mid-bin
        res[L]["n"] = len(images)
        print(f"L={L}: " + ", ".join(f"{k} {v:.3f}" for k, v in res[L].items()), flush=True)
    return res


def sweep(images: list[np.ndarray], fp32: qfast.Corrector, size: int = 256) -> dict[int, tuple[float, float]]:
    """{levels: (mid-bin PSNR, corrected PSNR)} for every level count 2..64 on the images' centre crops."""
    crops = []
    for img in images:
        h, w = img.shape[:2]
        crops.append(img[(h - size) // 2 : (h + size) // 2, (w - size) // 2 : (w + size) // 2])
    res = {}
    for L in range(2, 65):
        mid = [qfast.quantize_uniform(c, L) for c in crops]
        res[L] = (
            _mean([qfast.psnr(c, m) for c, m in zip(crops, mid)]),
            _mean([qfast.psnr(c, fp32.correct(m, L)) for c, m in zip(crops, mid)]),
        )
    return res


def speed(corrector: qfast.Corrector, rec: np.ndarray, levels: list[int], repeats: int = 5) -> float:
    """Median seconds of ``corrector.correct(rec, levels)`` (after one warm-up run)."""
    corrector.correct(rec, levels)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        corrector.correct(rec, levels)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def ycbcr_table(images: list[np.ndarray], model: qfast.Corrector) -> dict:
    """{luma levels: {metric: mean}}: the codec's YCbCr 4:2:0 levels mode decoded without and with ``model``."""
    res = {}
    for L in YCBCR_LEVELS:
        levels = _rate_levels(L, 3, "ycbcr")  # as target_bpp's rate control sets them
        cols: dict[str, list[float]] = {k: [] for k in ("bpp", "mid_psnr", "mid_ssim", "psnr", "ssim", "worse")}
        for img in images:
            data = qfast.encode(img, levels=levels, subsample=True, corrector=None)
            plain = qfast.decode(data, correct=False)
            out = model.correct(plain, levels)
            cols["bpp"].append(8 * len(data) / (img.shape[0] * img.shape[1]))
            cols["mid_psnr"].append(qfast.psnr(img, plain))
            cols["mid_ssim"].append(qfast.ssim(img, plain))
            cols["psnr"].append(qfast.psnr(img, out))
            cols["ssim"].append(qfast.ssim(img, out))
            cols["worse"].append(float(cols["psnr"][-1] < cols["mid_psnr"][-1]))
            cols["gain"].append(cols["psnr"][-1] - cols["mid_psnr"][-1])
        res[L] = {k: _mean(v) for k, v in cols.items()}
        res[L]["worse"] = sum(cols["worse"])
        res[L]["n"] = len(images)
        print(f"L={L}: " + ", ".join(f"{k} {v:.3f}" for k, v in res[L].items()), flush=True)
    return res


def ycbcr_markdown(res: dict, seconds: float, size: int, budget: dict) -> str:
    """The YCbCr model's report."""
    n_img = next(iter(res.values()))["n"]
    lines = [
        "# The QANN corrector for YCbCr 4:2:0 on Kodak",
        "",
        "The codec's levels mode in YCbCr 4:2:0 (`qfast.encode(img, levels=[L, 2L, 2L], subsample=True)`, 2L at",
        f"most 256) on the {n_img} Kodak images (768 x 512), decoded without the corrector (mid-bin, chroma",
        "upsampled) and with the `ycbcr420` model. Means of RGB PSNR (dB) and SSIM; bpp of the file.",
        "Written by `onnx/evaluate.py --ycbcr`; Kodak was never used in training.",
        "",
        "| Y levels | Cb, Cr levels | bpp | plain PSNR | corrected PSNR (gain) | plain SSIM | corrected SSIM "
        "| images made worse |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for L, r in res.items():
        chroma = _rate_levels(L, 3, "ycbcr")[1]
        lines.append(
            f"| {L} | {chroma} | {r['bpp']:.3f} | {r['mid_psnr']:.2f} | {r['psnr']:.2f} "
            f"({r['psnr'] - r['mid_psnr']:+.2f}) | {r['mid_ssim']:.4f} | {r['ssim']:.4f} "
            f"| {r['worse']:.0f} of {r['n']} |"
        )
    lines += [
        "",
        f"Model file: {size / 1e6:.2f} MB; one 768 x 512 image in {seconds:.3f} s (median of 5, CPU "
        "provider, on 2 cores other jobs may share: noisy).",
        "",
    ]
    lines += budget_lines(budget, "ycbcr420")
    return "\n".join(lines)


def budget_lines(budget: dict, quantizer: str) -> list[str]:
    """The report's training budget: every run the checkpoint's weights went through, oldest first."""
    if not budget:
        return []
    runs = [
        *budget["started_from"],
        {
            "quantizer": quantizer,
            "steps": budget["steps"],
            "minutes": budget["minutes"],
            "qat": budget["qat"],
            **budget.get("data", {}),
        },
    ]
    lines = [
        "## Training budget",
        "",
        f"On {budget['hardware']}, {budget['train_images']} training photos (BSDS500 train and test splits), "
        "with synthetic pictures (`onnx/synthetic.py`) where the run says so; each run started from the weights "
        "of the one before:",
        "",
        "| run | undoes | quantization-aware | batch x crop | content | loss | steps | minutes |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {i + 1} | {r['quantizer']} | {'yes' if r.get('qat') else 'no'} | {r.get('batch', 12)} x "
        f"{r.get('crop', 96)}² | {_content(r)} | {r.get('loss', 'bins')} | {r['steps']:,} | {r['minutes']:.0f} |"
        for i, r in enumerate(runs)
    ]
    total = sum(r["minutes"] for r in runs)
    return [*lines, "", f"In all {sum(r['steps'] for r in runs):,} steps, {total:.0f} minutes.", ""]


def _content(run: dict) -> str:
    """A run's training content: the photos, augmented or not, and the synthetic share."""
    photos = "photos, augmented" if run.get("augment") else "photos"
    share = run.get("synthetic", 0.0)
    return f"{photos}, {share:.0%} synthetic" if share else photos


def training_budget(checkpoint: Path, hardware: str) -> dict:
    """Steps, minutes and batch of a train.py checkpoint (and of its run's ``last.pt``)."""
    import torch

    ck = torch.load(checkpoint, map_location="cpu", weights_only=False)
    last = checkpoint.with_name("last.pt")
    total = torch.load(last, map_location="cpu", weights_only=False) if last.exists() else ck
    targs = ck.get("args") or {"batch": 12, "crop": 96}  # the first run's checkpoints did not record them
    return {
        "steps": int(ck["step"]),
        "minutes": float(ck.get("trained_s", 0.0)) / 60,
        "total_steps_run": int(total["step"]),
        "total_minutes_run": float(total.get("trained_s", 0)) / 60,
        "hardware": hardware,
        "batch": targs["batch"],
        "crop": targs["crop"],
        "train_images": 415,
        "qat": bool(ck.get("qat", False)),
        "started_from": ck.get("lineage", []),
        "data": {k: targs[k] for k in ("batch", "crop", "synthetic", "augment", "loss") if k in targs},
    }


def sets_markdown(sets: dict[str, dict]) -> list[str]:
    """Every evaluation set side by side: per level, the mean gain over mid-bin, the worst image's gain and SSIM."""
    names = list(sets)
    head = (
        "| levels | "
        + " | ".join(f"{n}: mean gain | {n}: worst image | {n}: SSIM mid-bin -> corrected" for n in names)
        + " |"
    )
    lines = [
        "## Every evaluation set",
        "",
        "RGB PSNR gain of the corrected image over mid-bin (dB), mean and the worst single image, and mean SSIM;",
        "" + ", ".join(f"{n}: {next(iter(r.values()))['n']} images" for n, r in sets.items()) + ".",
        "",
        head,
        "|---" * (1 + 3 * len(names)) + "|",
    ]
    for L in TABLE_LEVELS:
        cells = []
        for n in names:
            r = sets[n][L]
            cells += [
                f"{r['psnr'] - r['mid_psnr']:+.2f}",
                f"{r['worst_gain']:+.2f}",
                f"{r['mid_ssim']:.4f} -> {r['ssim']:.4f}",
            ]
        lines.append(f"| {L} | " + " | ".join(cells) + " |")
    return lines + [""]


def load_set(folder: Path, limit: Optional[int], pattern: str = "*.png") -> list[np.ndarray]:
    """The images of an evaluation folder as RGB uint8 arrays (greyscale ones as RGB)."""
    files = sorted(folder.glob(pattern))[:limit]
    if not files:
        raise FileNotFoundError(f"no {pattern} images in {folder}")
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def markdown(res: dict, sw: dict, speeds: dict, sizes: dict, budget: dict, sets: Optional[dict] = None) -> str:
    """The report."""
    n_img = next(iter(res.values()))["n"]
    lines = [
        "# The QANN corrector on Kodak",
        "",
        f"Mean over the {n_img} Kodak images (768 x 512) of the RGB PSNR in dB (and SSIM), every channel",
        "quantized uniformly to L levels and reconstructed at mid-bin (`qfast.quantize_uniform`), then corrected",
        "with `qfast.Corrector`. Written by `onnx/evaluate.py`; Kodak was never used in training.",
        "",
        "| levels | mid-bin PSNR | corrected PSNR (gain) | required | goal | met | clamp=True PSNR | int8 PSNR "
        "| mid-bin SSIM | corrected SSIM | images made worse |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for L, r in res.items():
        n = r["n"]
        gain = r["psnr"] - r["mid_psnr"]
        req, goal = TARGETS[L]
        met = "goal" if gain >= goal else "required" if gain >= req else "no"
        i8 = f"{r['int8_psnr']:.2f} ({r['int8_psnr'] - r['psnr']:+.2f})" if "int8_psnr" in r else "-"
        lines.append(
            f"| {L} | {r['mid_psnr']:.2f} | {r['psnr']:.2f} ({gain:+.2f}) | +{req} | +{goal} | {met} "
            f"| {r['clamp_psnr']:.2f} | {i8} | {r['mid_ssim']:.4f} | {r['ssim']:.4f} "
            f"| {r['worse']:.0f} of {n} |"
        )
    worst = min(sw, key=lambda L: sw[L][1] - sw[L][0])
    lines += [
        "",
        "## Every level count 2..64",
        "",
        f"Centre 256 x 256 crops of the {n_img} images, mean PSNR gain of the corrected image over mid-bin, dB:",
        "",
    ]
    levels = list(sw)
    for i in range(0, len(levels), 16):
        chunk = levels[i : i + 16]
        lines += [
            "| levels | " + " | ".join(str(L) for L in chunk) + " |",
            "|---" * (len(chunk) + 1) + "|",
            "| gain | " + " | ".join(f"{sw[L][1] - sw[L][0]:+.2f}" for L in chunk) + " |",
            "",
        ]
    lines += [
        f"Smallest gain: {sw[worst][1] - sw[worst][0]:+.2f} dB at {worst} levels.",
        "",
        "## Speed and size",
        "",
        "Median of 5 runs of `Corrector.correct` on one Kodak image, CPU provider, on the 2 CPU cores the model",
        "was trained on while other jobs shared them: the times are noisy.",
        "",
        "| model | file | seconds for 768 x 512 |",
        "|---|---|---|",
    ]
    for k in speeds:
        lines.append(f"| {k} | {sizes[k] / 1e6:.2f} MB | {speeds[k]:.3f} |")
    lines += ["", *budget_lines(budget, "rgb")]
    if sets and len(sets) > 1:
        lines += ["", *sets_markdown(sets)]
    return "\n".join(lines)


def main(argv: Optional[list[str]] = None) -> dict:
    """Runs the evaluation, writes ``--md`` (and ``--manifest``) and returns the results."""
    args = parse_args(argv)
    images = load_set(args.kodak, args.limit, "kodim*.png")
    cpu = ["CPUExecutionProvider"]
    if args.ycbcr:
        return main_ycbcr(args, images)
    fp32 = qfast.Corrector(args.fp32, providers=cpu)
    int8 = qfast.Corrector(args.int8, providers=cpu) if args.int8 else None
    res = table(images, fp32, int8)
    sets = {"Kodak": res}
    if str(args.other) not in ("", "."):
        sets["other"] = table(load_set(args.other, args.limit), fp32, None)
    sw = sweep(images, fp32)
    mid8 = qfast.quantize_uniform(images[0], 8)
    speeds = {"fp32": speed(fp32, mid8, [8] * 3)}
    sizes = {"fp32": args.fp32.stat().st_size}
    if int8 is not None:
        speeds["int8"] = speed(int8, mid8, [8] * 3)
        sizes["int8"] = args.int8.stat().st_size
    print("speed (s):", speeds, "sizes:", sizes)
    budget = training_budget(args.checkpoint, args.hardware_train) if args.checkpoint else {}
    args.md.write_text(markdown(res, sw, speeds, sizes, budget, sets))
    print(f"wrote {args.md}")
    if args.manifest:
        manifest = _read_manifest(args.manifest)
        manifest.update(
            {
                "format": 1,
                "levels": [2, 64],
                "naming": "qann[-int8|-ycbcr420]-<first 12 hex digits of the sha256 of the .onnx file>.onnx",
                "opset": 17,
                "int8": "the default model quantized by onnxruntime (static, QDQ, onnx/quantize_model.py): per-channel "
                "int8 weights, uint8 activations with the ranges of its quantization-aware training (the rest "
                "MinMax on 64 training crops); the level embedding, the attention's softmax, the division by "
                "the levels and the residual addition stay float",
                "inputs": {
                    "image": "(N, 3, H, W) float32 in [0, 1], H and W multiples of 16",
                    "levels": "(N, 3) float32, 2..64",
                },
                "output": "corrected (N, 3, H, W) float32",
                "training_data": "445 BSDS500 photos (train and test splits; 415 for training, 30 held out); no Kodak"
                + (
                    f"; {budget['data']['synthetic']:.0%} of the last run's crops from synthetic pictures "
                    "(onnx/synthetic.py)"
                    if budget.get("data", {}).get("synthetic")
                    else ""
                ),
                "training_budget": budget,
                "kodak": {str(L): {k: round(v, 3) for k, v in r.items()} for L, r in res.items()},
                **(
                    {"other": {str(L): {k: round(v, 3) for k, v in r.items()} for L, r in sets["other"].items()}}
                    if "other" in sets
                    else {}
                ),
                "kodak_sweep_256_centre": {str(L): [round(m, 3), round(c, 3)] for L, (m, c) in sw.items()},
            }
        )
        manifest.setdefault("models", {})["default"] = {
            "file": args.fp32.name,
            "bytes": sizes["fp32"],
            "seconds_768x512": speeds["fp32"],
        }
        if int8 is not None:
            manifest["models"]["int8"] = {
                "file": args.int8.name,
                "bytes": sizes["int8"],
                "seconds_768x512": speeds["int8"],
            }
        args.manifest.write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"wrote {args.manifest}")
    return {"table": res, "sets": sets, "sweep": sw, "speeds": speeds, "sizes": sizes}


def _read_manifest(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def main_ycbcr(args: argparse.Namespace, images: list[np.ndarray]) -> dict:
    """The ``--ycbcr`` run: its report and its manifest entries (``models.ycbcr420``, ``kodak_ycbcr420``)."""
    model = qfast.Corrector(args.ycbcr, providers=["CPUExecutionProvider"])
    if model.quantizer != "ycbcr420":
        raise ValueError(f"--ycbcr: {args.ycbcr} undoes {model.quantizer!r}, not 'ycbcr420'")
    res = ycbcr_table(images, model)
    levels = _rate_levels(8, 3, "ycbcr")
    plain = qfast.decode(qfast.encode(images[0], levels=levels, subsample=True, corrector=None))
    seconds, size = speed(model, plain, levels), args.ycbcr.stat().st_size
    budget = training_budget(args.checkpoint, args.hardware_train) if args.checkpoint else {}
    args.md.write_text(ycbcr_markdown(res, seconds, size, budget))
    print(f"wrote {args.md}")
    if args.manifest:
        manifest = _read_manifest(args.manifest)
        manifest.setdefault("models", {})["ycbcr420"] = {
            "file": args.ycbcr.name,
            "bytes": size,
            "seconds_768x512": seconds,
            "undoes": "the codec's levels mode in YCbCr 4:2:0; levels input [Y, Cb, Cr], Y 2..128, chroma up to 256",
            "training_budget": budget,
        }
        manifest["kodak_ycbcr420"] = {str(L): {k: round(v, 3) for k, v in r.items()} for L, r in res.items()}
        args.manifest.write_text(json.dumps(manifest, indent=1) + "\n")
        print(f"wrote {args.manifest}")
    return {"table": res, "seconds": seconds, "size": size}


if __name__ == "__main__":
    main()
