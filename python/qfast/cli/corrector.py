"""``qfast correct``: run the QANN corrector on an image quantized uniformly (mid-bin) to a few levels per channel."""

from __future__ import annotations

import argparse

from .._io import read_image, write_image
from ._args import EXACT_OUT, IMAGE_IN, _levels_arg, add_force, add_quiet, out_name, summary


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``correct`` to the subcommands."""
    _add_correct(sub)


def _add_correct(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "correct",
        help="remove banding from a uniformly quantized image with the QANN corrector",
        description="Run the QANN corrector on IN, the mid-bin reconstruction of uniform quantization to --levels "
        "(as qfast quantize writes it), and write the corrected image to OUT. Grey and RGBA work (alpha passes "
        "through). An image that is not on the mid-bin grid of those levels is refused.",
    )
    p.add_argument("input", metavar="IN", help=IMAGE_IN)
    p.add_argument("-o", "--output", metavar="OUT", required=True, help=EXACT_OUT)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--levels", type=_levels_arg, help="the levels IN was quantized to, 2..256 (one, or 8,8,4)")
    g.add_argument("--bits", type=_levels_arg, help="instead of --levels: the bits per channel, 1..8")
    p.add_argument(
        "--model", choices=["default", "int8"], default="default", help="default (fp32) or int8 (faster on CPUs)"
    )
    p.add_argument("--clamp", action="store_true", help="keep every value inside its quantization bin")
    add_force(p)
    add_quiet(p)
    p.set_defaults(run=_run_correct)


def _run_correct(args: argparse.Namespace) -> int:
    import qfast

    from .._io import CliError, check_writable, refuse_lossy

    refuse_lossy(args.output)
    check_writable(args.output, args.force)
    if args.bits is not None:
        bits = args.bits if isinstance(args.bits, list) else [args.bits]
        if any(not 1 <= b <= 8 for b in bits):
            raise CliError(f"--bits: expected 1..8, got {args.bits}")
        levels = [1 << b for b in bits] if isinstance(args.bits, list) else 1 << args.bits
    else:
        levels = args.levels
    img = read_image(args.input)
    try:
        corrector = qfast.Corrector(args.model)
    except (ImportError, OSError) as e:
        raise CliError(f"the corrector is not available here ({e})") from None
    out = corrector.correct(img, levels, clamp=args.clamp)
    write_image(out, args.output, force=args.force)
    summary(args, f"{out_name(args.output)}: corrected ({args.model} model, levels {levels})")
    return 0
