"""``qfast quantize``: quantize an image file to a few levels per channel (uniform, Lloyd-Max or mu-law)."""

from __future__ import annotations

import argparse

from .._io import check_writable, read_image
from ._args import EXACT_OUT, IMAGE_IN, _levels_arg, add_force, add_quiet, out_name, psnr_text, summary


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``quantize`` to the subcommands."""
    _add_quantize(sub)


def _add_quantize(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "quantize",
        help="quantize an image file to a few levels per channel",
        description="Quantize IN to a few levels per channel and write the reconstruction to OUT "
        "(format from OUT's extension).",
    )
    p.add_argument("input", metavar="IN", help=IMAGE_IN)
    p.add_argument("-o", "--output", metavar="OUT", required=True, help=EXACT_OUT)
    add_options(p)
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_quantize)


def add_options(p: argparse.ArgumentParser) -> None:
    """Adds the options of ``quantize`` that ``qfast batch quantize`` shares."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--levels", type=_levels_arg, help="levels per channel, 2..256 (one, or one per channel: 8,8,4)")
    g.add_argument("--bits", type=_levels_arg, help="bits per channel, 1..8 (levels = 2**bits)")
    p.add_argument(
        "--method",
        choices=["uniform", "lloyd-max", "mu-law"],
        default="uniform",
        help="uniform (default: floor(x L / 256)), lloyd-max (least squared error for the image) or mu-law "
        "(finer steps in the dark)",
    )
    p.add_argument(
        "--reconstruction",
        choices=["midpoint", "full-range"],
        default=None,
        help="--method uniform only: bin middles (least error; the default) or 0..255 end to end",
    )
    p.add_argument(
        "--dither",
        choices=["none", "bayer4", "bayer8", "floyd-steinberg"],
        default=None,
        help="--method uniform only: ordered (bayer4, bayer8) or error-diffusion (floyd-steinberg) dithering, "
        "for fewer levels without banding (default none)",
    )
    p.add_argument(
        "--depth",
        type=int,
        choices=[8, 16],
        default=None,
        help="bits of OUT for a 16-bit greyscale IN (default 16, in PNG or TIFF); 8-bit IN gives 8",
    )
    p.add_argument(
        "--correct",
        action="store_true",
        help="--method uniform, midpoint only: then run the QANN corrector on the result (as qfast correct does)",
    )


def options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.quantize_file` (``qfast batch quantize``) from parsed arguments."""
    from .._io import CliError

    if args.reconstruction is not None and args.method != "uniform":
        raise CliError(f"--reconstruction: only with --method uniform (got --method {args.method})")
    if args.dither is not None and args.method != "uniform":
        raise CliError(f"--dither: only with --method uniform (got --method {args.method})")
    if args.correct and (args.method != "uniform" or args.reconstruction == "full-range" or args.dither):
        raise CliError("--correct: only with --method uniform, midpoint reconstruction and no --dither")
    return {
        "levels": args.levels,
        "bits": args.bits,
        "method": args.method,
        "reconstruction": args.reconstruction or "midpoint",
        "dither": args.dither or "none",
        "depth": args.depth,
        "correct": args.correct,
    }


def _run_quantize(args: argparse.Namespace) -> int:
    from .._io import CliError, refuse_lossy, write_bytes
    from .._ops import quantize_image

    opts = options(args)  # the checks of the options shared with qfast batch quantize
    refuse_lossy(args.output)
    check_writable(args.output, args.force)
    img = read_image(args.input, allow16=args.dither in (None, "none"))
    if args.depth == 16 and img.dtype != "uint16":
        raise CliError("--depth: 16 only for a 16-bit greyscale IN (this one has 8 bits)")
    data, out = quantize_image(img, args.output, **opts)
    write_bytes(args.output, data, args.force)
    amount = f"{args.bits} bits" if args.bits is not None else f"{args.levels} levels"
    summary(args, lambda: f"{out_name(args.output)}: {args.method}, {amount} per channel, {psnr_text(img, out)}")
    return 0
