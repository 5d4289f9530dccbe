"""Trains the QANN corrector on random crops of the training photos (never Kodak).

Each sample is a random crop, randomly flipped and transposed, quantized with a level count drawn per channel,
log-uniform in 2..64, and reconstructed at mid-bin by :func:`qfast.quantize_uniform`. The loss is each channel's
squared error divided by the squared bin width (1 / L), so fine levels weigh as much as coarse ones: it tracks the
PSNR gain in dB rather than the raw error, which coarse levels would dominate.

``--quantizer ycbcr420`` trains the corrector of the codec's levels mode in YCbCr 4:2:0 instead: each crop goes
through ``qfast.encode(crop, levels=[Ly, Lcb, Lcr], subsample=True)`` and ``qfast.decode`` (Ly log-uniform in
2..128, each chroma count 1 to 3 times Ly, at most 256), the model's ``levels`` input is [Ly, Lcb, Lcr], and every
channel's error is divided by the luma bin width. ``--init`` starts such a run from another run's weights (fine-tuning).

``--qat`` fine-tunes a ``"relu"`` model (``--shape int8``) for its int8 graph: every tensor that
``quantize_model.py`` turns into uint8 is rounded the same way in training (ranges fixed by ``--qat-calibration``
batches first) and every convolution weight to int8 (see ``model.set_qat``). Checkpoints hold plain float weights,
which ``export.py`` exports as usual and ``quantize_model.py`` then quantizes. ``--residual bins`` (the int8 shape's
default) makes the head predict the correction in bins; with ``--init`` from an ``"image"`` model it converts it.

A held-out slice of the photos (every ``--val-every``-th file, sorted by name) is used for validation only:
fixed crops at 4, 8, 16, 32 and 64 levels, reported as the PSNR gain over mid-bin. Checkpoints (``last.pt`` and
``best.pt``, the best validation gain) go to ``--out``; running again with the same ``--out`` resumes from
``last.pt`` (model, its exponential moving average, optimiser, schedule, step, random state). Validation,
``best.pt`` and the export use the moving average (``--ema``) of the weights, which is smoother than the last
step's. ``best.pt`` has the best validation score: the mean gain, with a loss at any level counted three times
(a level made worse than mid-bin is what must not ship). Progress is logged to stdout and ``--out/train.log``.

For pictures unlike the photos (screenshots, drawings, comics, scans), ``--synthetic F`` draws a fraction F of the
crops from a pool of ``--synthetic-pool`` pictures made by ``synthetic.py`` (flat colours, gradients, shapes,
strokes, text, screentone, noise; a fixed seed), and validation adds the same levels on a separate synthetic set.
``--augment`` varies the photos (scale, saturation and gamma, grey, blur; see ``synthetic.augment``). ``--loss db``
replaces the bin-weighted error by each crop's PSNR change in dB against its mid-bin input (so every crop and level
counts the same, whatever its error), plus ``--worse-weight`` times the dB by which a crop is made worse.

Example:
    python onnx/train.py --out runs/main --minutes 60
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
import synthetic  # noqa: E402
from model import (  # noqa: E402
    INT8,
    MAX_LEVELS,
    RESIDUALS,
    TINY,
    Config,
    Corrector,
    float_state,
    load_qat_ranges,
    qat_ranges,
    set_qat,
)

import qfast  # noqa: E402
from qfast.codec import _rate_levels  # noqa: E402

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "train"
VAL_LEVELS = (4, 8, 16, 32, 64)
QUANTIZERS = ("rgb", "ycbcr420")
LOSSES = ("bins", "db")
RECORDED = ("batch", "crop", "synthetic", "augment", "loss")  # a run's settings its successors' lineage keeps
SHAPES = {"default": Config(), "int8": INT8, "tiny": TINY, "tiny-int8": replace(TINY, block="relu", residual="bins")}
YCBCR_MAX_LEVELS = (128, 256)  # the YCbCr model's luma and chroma ranges (qfast.corrector.MAX_YCBCR_LEVELS)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """The command-line options (see ``--help``)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of training PNGs")
    p.add_argument("--out", type=Path, required=True, help="checkpoint and log folder (resumes from last.pt)")
    p.add_argument("--steps", type=int, default=200_000, help="stop after this many steps in total")
    p.add_argument("--minutes", type=float, default=None, help="stop after this many minutes of this run")
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--crop", type=int, default=96, help="crop size, a multiple of 16")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    p.add_argument("--decay-steps", type=int, default=20_000, help="cosine decay of the rate to 5%% over these")
    p.add_argument("--val-every", type=int, default=15, help="every N-th image (sorted) is held out")
    p.add_argument("--val-crops", type=int, default=2, help="validation crops per held-out image")
    p.add_argument("--eval-interval", type=int, default=500, help="validate and checkpoint every N steps")
    p.add_argument("--log-interval", type=int, default=50)
    p.add_argument("--ema", type=float, default=0.999, help="decay of the weights' moving average")
    p.add_argument("--threads", type=int, default=2, help="torch threads (1 is faster on a busy machine)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--limit-images", type=int, default=None, help="use only the first N images (tests)")
    p.add_argument(
        "--shape",
        choices=sorted(SHAPES),
        default="default",
        help="the model's size and blocks: default (the first shipped models), int8 (ReLU blocks, wider, "
        "the correction in bins), tiny and tiny-int8 (tests); a resumed run keeps its checkpoint's",
    )
    p.add_argument(
        "--quantizer",
        choices=QUANTIZERS,
        default="rgb",
        help="what the corrector undoes: per-channel RGB levels, or the codec's YCbCr 4:2:0 levels",
    )
    p.add_argument("--init", type=Path, default=None, help="start from this checkpoint's weights (a new run only)")
    p.add_argument(
        "--residual",
        choices=RESIDUALS,
        default=None,
        help="the head's unit (model.Config.residual); with --init, an 'image' model becomes a 'bins' one "
        "(its head scaled so that the correction is unchanged at 11 levels); default: the shape's",
    )
    p.add_argument(
        "--qat",
        action="store_true",
        help="quantization-aware training for the int8 graph ('relu' blocks; a new run, with --init)",
    )
    p.add_argument(
        "--qat-calibration",
        type=int,
        default=50,
        help="batches that set the fake quantizers' ranges before quantization-aware training",
    )
    p.add_argument("--synthetic", type=float, default=0.0, help="fraction of crops from synthetic pictures")
    p.add_argument("--synthetic-pool", type=int, default=512, help="synthetic pictures drawn (256 x 256)")
    p.add_argument("--augment", action="store_true", help="vary the photos' scale, colour and sharpness")
    p.add_argument(
        "--loss",
        choices=LOSSES,
        default="bins",
        help="bins: squared error in bins; db: each crop's PSNR change against mid-bin",
    )
    p.add_argument(
        "--worse-weight",
        type=float,
        default=2.0,
        help="--loss db: extra weight of the dB by which a crop is made worse",
    )
    args = p.parse_args(argv)
    if not 0.0 <= args.synthetic <= 1.0:
        p.error(f"--synthetic: expected a fraction in 0..1, got {args.synthetic}")
    if args.qat and args.init is None and not (args.out / "last.pt").exists():
        p.error("--qat: fine-tunes a trained model; give --init")
    if args.crop % 16 or args.crop < 16:
        p.error(f"--crop: expected a multiple of 16, got {args.crop}")
    return args


def load_images(folder: Path, limit: Optional[int] = None) -> list[np.ndarray]:
    """The folder's PNGs (sorted by name) as uint8 RGB arrays."""
    files = sorted(folder.glob("*.png"))[:limit]
    if not files:
        raise FileNotFoundError(f"--data: no PNG files in {folder}")
    return [np.asarray(Image.open(f).convert("RGB")) for f in files]


def split(images: list[np.ndarray], every: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(train, validation): every ``every``-th image is held out (at least one of each)."""
    val = images[::every] if len(images) > 1 else images
    train = [im for i, im in enumerate(images) if i % every] or images
    return train, val


def random_levels(rng: np.random.Generator, n: int, quantizer: str = "rgb") -> np.ndarray:
    """(n, 3) integer level counts, log-uniform in 2..MAX_LEVELS, drawn per channel; for ``"ycbcr420"``, the luma
    count log-uniform in 2..YCBCR_MAX_LEVELS[0] and each chroma count 1 to 3 times it (log-uniform, at most 256)."""
    top = YCBCR_MAX_LEVELS[0] if quantizer == "ycbcr420" else MAX_LEVELS
    lo, hi = math.log(1.5), math.log(top + 0.5)
    levels = np.clip(np.rint(np.exp(rng.uniform(lo, hi, size=(n, 3)))), 2, top)
    if quantizer == "ycbcr420":
        ratio = np.exp(rng.uniform(0.0, math.log(3.0), size=(n, 2)))
        levels[:, 1:] = np.clip(np.rint(levels[:, :1] * ratio), 2, YCBCR_MAX_LEVELS[1])
    return levels.astype(np.int64)


def val_levels(level: int, quantizer: str) -> list[int]:
    """The per-channel levels validation uses for ``level``: for ``"ycbcr420"`` those of the codec's rate control
    (chroma at twice luma)."""
    return _rate_levels(level, 3, "ycbcr") if quantizer == "ycbcr420" else [level] * 3


def degrade(patch: np.ndarray, levels: list[int], quantizer: str) -> np.ndarray:
    """What the corrector sees: ``patch`` quantized to ``levels`` and reconstructed (uint8 RGB)."""
    if quantizer == "ycbcr420":
        data = qfast.encode(patch, levels=levels, subsample=True, corrector=None, effort=2)
        return qfast.decode(data, correct=False)
    return qfast.quantize_uniform(patch, levels)


def make_batch(
    images: list[np.ndarray],
    rng: np.random.Generator,
    n: int,
    crop: int,
    levels: Optional[np.ndarray] = None,
    quantizer: str = "rgb",
    drawn: Optional[list[np.ndarray]] = None,
    drawn_fraction: float = 0.0,
    augment: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(mid-bin input, levels, target) for ``n`` random crops with flips and transposes: a ``drawn_fraction`` of
    them from the ``drawn`` (synthetic) pictures, the others from ``images`` (varied by :func:`synthetic.augment`
    if ``augment``)."""
    if levels is None:
        levels = random_levels(rng, n, quantizer)
    xs, ys = [], []
    for i in range(n):
        if drawn and rng.random() < drawn_fraction:
            im = drawn[rng.integers(len(drawn))]
        else:
            im = images[rng.integers(len(images))]
            if augment:
                im = synthetic.augment(rng, im, crop)
        h, w = im.shape[:2]
        c = min(crop, h, w) // 16 * 16
        y0, x0 = rng.integers(h - c + 1), rng.integers(w - c + 1)
        patch = im[y0 : y0 + c, x0 : x0 + c]
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        if rng.random() < 0.5:
            patch = patch[::-1]
        if rng.random() < 0.5:
            patch = patch.transpose(1, 0, 2)
        patch = np.ascontiguousarray(patch)
        xs.append(degrade(patch, [int(v) for v in levels[i]], quantizer))
        ys.append(patch)
    to_t = lambda a: torch.from_numpy(np.stack(a)).permute(0, 3, 1, 2).float().div_(255)  # noqa: E731
    return to_t(xs), torch.from_numpy(levels).float(), to_t(ys)


#: The squared error (in [0, 1] units) below which a crop counts as exact for ``--loss db``: a quarter of a grey
#: level squared, the rounding to uint8 that every output goes through anyway.
DB_FLOOR = 0.25 / 255**2


def db_loss(out: torch.Tensor, target: torch.Tensor, inp: torch.Tensor, worse_weight: float) -> torch.Tensor:
    """Each crop's PSNR change in dB against its mid-bin input, negated (lower is better), plus ``worse_weight``
    times the dB by which a crop is made worse, averaged over the batch."""
    err = (out - target).pow(2).mean(dim=(1, 2, 3)) + DB_FLOOR
    base = (inp - target).pow(2).mean(dim=(1, 2, 3)) + DB_FLOOR
    change = (10 / math.log(10)) * torch.log(err / base)  # dB lost
    return (change + worse_weight * torch.relu(change)).mean()


def loss_fn(out: torch.Tensor, target: torch.Tensor, levels: torch.Tensor, quantizer: str = "rgb") -> torch.Tensor:
    """Mean squared error of each channel divided by its squared bin width (1 / L; the luma bin for YCbCr)."""
    err = (out - target).pow(2).mean(dim=(2, 3))  # (N, 3)
    weight = levels[:, :1] if quantizer == "ycbcr420" else levels
    return (err * weight.pow(2)).mean()


def validation_set(
    images: list[np.ndarray], crops: int, crop: int, seed: int, quantizer: str = "rgb", prefix: str = ""
) -> list[tuple]:
    """Fixed validation batches: each level of VAL_LEVELS on the same crops of the held-out images, named
    ``prefix`` and the level (``"8"``, ``"syn8"``)."""
    out = []
    for L in VAL_LEVELS:
        rng = np.random.default_rng(seed + 1000)  # the same crops at every level
        n = crops * len(images)
        levels = np.tile(np.array(val_levels(L, quantizer), np.int64), (n, 1))
        out.append((f"{prefix}{L}", *make_batch(images, rng, n, crop, levels, quantizer)))
    return out


def psnr_t(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean PSNR over the batch (uint8 rounding applied first)."""
    a8 = (a.clamp(0, 1) * 255).round()
    b8 = (b * 255).round()
    mse = (a8 - b8).pow(2).mean(dim=(1, 2, 3)).clamp(min=1e-10)
    return float((10 * torch.log10(255**2 / mse)).mean())


@torch.no_grad()
def validate(model: Corrector, val: list[tuple], batch: int) -> dict[str, tuple[float, float]]:
    """{batch name: (mid-bin PSNR, corrected PSNR)} on the validation set."""
    was_training = model.training
    model.eval()
    res = {}
    for L, x, lv, y in val:
        outs = torch.cat([model(x[i : i + batch], lv[i : i + batch]) for i in range(0, len(x), batch)])
        res[L] = (psnr_t(x, y), psnr_t(outs, y))
    model.train(was_training)
    return res


@torch.no_grad()
def calibrate_qat(
    model: Corrector,
    ema: Corrector,
    images: list[np.ndarray],
    rng: np.random.Generator,
    args: argparse.Namespace,
    sources: dict,
) -> None:
    """Starts quantization-aware training on ``model`` and its moving average: the fake quantizers observe
    ``--qat-calibration`` batches through ``model`` (the widest values seen, as onnxruntime's MinMax calibration
    takes them), ``ema`` gets the same ranges, and both then quantize."""
    set_qat(model, "observe")
    for _ in range(args.qat_calibration):
        x, lv, _ = make_batch(images, rng, args.batch, args.crop, quantizer=args.quantizer, **sources)
        model(x, lv)
    set_qat(model, "quant")
    set_qat(ema, "quant")
    load_qat_ranges(ema, qat_ranges(model))


def lr_at(step: int, args: argparse.Namespace) -> float:
    """Linear warm-up, then cosine decay to 5% of the rate over ``--decay-steps``, then constant."""
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    t = min(1.0, (step - args.warmup) / max(1, args.decay_steps))
    return args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * t)))


def save(
    path: Path,
    model: Corrector,
    ema: Corrector,
    opt: torch.optim.Optimizer,
    step: int,
    rng: np.random.Generator,
    best: float,
    extra: dict,
) -> None:
    """Writes a checkpoint atomically (a temporary file, then a rename)."""
    tmp = path.with_suffix(".tmp")
    torch.save(
        {
            "model": float_state(model),
            "ema": float_state(ema),
            "config": model.config.to_dict(),
            "quantizer": extra.get("args", {}).get("quantizer", "rgb"),
            "qat": extra.get("args", {}).get("qat", False),
            **({"qat_ranges": qat_ranges(ema)} if extra.get("args", {}).get("qat") else {}),
            "opt": opt.state_dict(),
            "step": step,
            "rng": rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),
            "best": best,
            **extra,
        },
        tmp,
    )
    tmp.replace(path)


def main(argv: Optional[list[str]] = None) -> dict:
    """Trains (or resumes) and returns a summary: steps, seconds, best validation gain, checkpoint paths."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log_file = open(args.out / "train.log", "a")

    def log(msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%d %H:%M:%S')} {msg}"
        print(line, flush=True)
        log_file.write(line + "\n")
        log_file.flush()

    train_imgs, val_imgs = split(load_images(args.data, args.limit_images), args.val_every)
    val_crop = max(args.crop, 128)
    val = validation_set(val_imgs, args.val_crops, val_crop, args.seed, args.quantizer)
    sources: dict = {"augment": args.augment}
    if args.synthetic > 0:
        sources.update(
            drawn=synthetic.pictures(args.synthetic_pool, args.seed + 3000, max(256, args.crop)),
            drawn_fraction=args.synthetic,
        )
        val_syn = synthetic.pictures(len(val_imgs), args.seed + 4000, max(256, val_crop))
        val += validation_set(val_syn, args.val_crops, val_crop, args.seed, args.quantizer, prefix="syn")
    shape = SHAPES[args.shape]
    model = Corrector(replace(shape, residual=args.residual or shape.residual))
    step, best, trained_s = 0, -math.inf, 0.0
    lineage: list[dict] = []  # the runs whose weights this one started from, oldest first
    last = args.out / "last.pt"
    ck = None
    init_ranges = None  # the --init checkpoint's quantization ranges, if it was quantization-aware
    if last.exists():
        ck = torch.load(last, map_location="cpu", weights_only=False)
        if ck.get("quantizer", "rgb") != args.quantizer:
            log_file.close()
            raise SystemExit(f"--quantizer: {last} was trained with {ck.get('quantizer', 'rgb')!r}")
        args.qat = ck.get("qat", False)
        model = Corrector(Config.from_dict(ck["config"]))
        model.load_state_dict(ck["model"])
        ema_state = ck.get("ema", ck["model"])  # checkpoints from before the moving average: start it here
        step, best, trained_s = ck["step"], ck["best"], ck.get("trained_s", 0.0)
        lineage = ck.get("lineage", [])
        rng.bit_generator.state = ck["rng"]
        torch.set_rng_state(ck["torch_rng"])
        log(f"resumed from {last} at step {step} (best score {best:.3f} dB, {trained_s / 60:.1f} min trained)")
    elif args.init is not None:
        init = torch.load(args.init, map_location="cpu", weights_only=False)
        init_ranges = init.get("qat_ranges") if init.get("qat") else None
        config = Config.from_dict(init["config"])
        model = Corrector(replace(config, residual=args.residual or config.residual))
        ema_state = init.get("ema", init["model"])
        if (config.residual, model.config.residual) == ("image", "bins"):
            gain = math.sqrt(2 * MAX_LEVELS)  # the geometric middle of 2..MAX_LEVELS
            ema_state = {
                **ema_state,
                "head.weight": ema_state["head.weight"] * gain,
                "head.bias": ema_state["head.bias"] * gain,
            }
        elif config.residual != model.config.residual:
            raise SystemExit(f"--residual: cannot turn a {config.residual!r} model into a {args.residual!r} one")
        model.load_state_dict(ema_state)
        data = {k: v for k, v in (init.get("args") or {}).items() if k in RECORDED}
        lineage = [
            *init.get("lineage", []),
            {
                "from": os.path.relpath(args.init),
                "quantizer": init.get("quantizer", "rgb"),
                "steps": int(init["step"]),
                "minutes": init.get("trained_s", 0.0) / 60,
                "qat": init.get("qat", False),
                **data,
            },
        ]
        log(f"starting from the weights of {args.init} (step {init['step']})")
    ema = copy.deepcopy(model).eval()
    if ck is not None or args.init is not None:
        ema.load_state_dict(ema_state)
    if args.qat and ck is not None and "qat_ranges" in ck:
        for m in (model, ema):
            set_qat(m, "quant")
            load_qat_ranges(m, ck["qat_ranges"])
        log("quantization-aware: activation ranges restored from the checkpoint")
    elif args.qat and init_ranges is not None:
        # A quantization-aware model fine-tuned further keeps the ranges it was trained with: ranges observed afresh
        # on other content (synthetic edges, augmented photos) come out up to 5x wider, so every int8 step would be
        # coarser, and the photos lost 0.4 dB in a trial run.
        for m in (model, ema):
            set_qat(m, "quant")
            load_qat_ranges(m, init_ranges)
        log(f"quantization-aware: activation ranges kept from {args.init}")
    elif args.qat:
        calibrate_qat(model, ema, train_imgs, np.random.default_rng(args.seed + 2000), args, sources)
        log(f"quantization-aware: activation ranges observed on {args.qat_calibration} batches")
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    if ck is not None:
        opt.load_state_dict(ck["opt"])
    for p in ema.parameters():
        p.requires_grad_(False)
    # paths as given, relative to the working directory: logs and checkpoints name no machine's folders
    run_args = {k: os.path.relpath(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    n_params = sum(p.numel() for p in model.parameters())
    log(
        f"train {len(train_imgs)} images, validation {len(val_imgs)}; model {n_params:,} parameters; "
        f"{json.dumps(run_args)}"
    )

    t0 = time.time()
    running = 0.0
    model.train()
    while step < args.steps:
        if args.minutes is not None and time.time() - t0 > 60 * args.minutes:
            break
        x, lv, y = make_batch(train_imgs, rng, args.batch, args.crop, quantizer=args.quantizer, **sources)
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args)
        out = model(x, lv)
        loss = db_loss(out, y, x, args.worse_weight) if args.loss == "db" else loss_fn(out, y, lv, args.quantizer)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - args.ema)
        step += 1
        running += float(loss.detach())
        if step % args.log_interval == 0:
            el = trained_s + time.time() - t0
            log(f"step {step} loss {running / args.log_interval:.4f} lr {lr_at(step, args):.2e} {el / 60:.1f} min")
            running = 0.0
        if step % args.eval_interval == 0 or step == args.steps:
            res = validate(ema, val, args.batch)
            gains = [c - m for m, c in res.values()]
            gain = float(np.mean(gains))
            score = gain + 2 * min(0.0, min(gains))
            log(
                f"val step {step}: "
                + ", ".join(f"L{L} {m:.2f}->{c:.2f}" for L, (m, c) in res.items())
                + f"; mean gain {gain:+.3f} dB, score {score:+.3f}"
            )
            extra = {
                "trained_s": trained_s + time.time() - t0,
                "val": {str(k): v for k, v in res.items()},
                "args": run_args,
                "lineage": lineage,
            }
            if score > best:
                best = score
                save(args.out / "best.pt", model, ema, opt, step, rng, best, extra)
            save(last, model, ema, opt, step, rng, best, extra)
    total_s = trained_s + time.time() - t0
    final = {"trained_s": total_s, "args": run_args, "lineage": lineage}
    save(last, model, ema, opt, step, rng, best, final)
    if not (args.out / "best.pt").exists():
        save(args.out / "best.pt", model, ema, opt, step, rng, best, final)
    log(f"stopped at step {step}, {total_s / 60:.1f} min trained in total, best score {best:+.3f} dB")
    log_file.close()
    return {
        "steps": step,
        "seconds": total_s,
        "best_score_db": best,
        "last": str(last),
        "best": str(args.out / "best.pt"),
    }


if __name__ == "__main__":
    main()
