"""``qfast quantize``: quantize an image file to a few levels per channel (uniform, Lloyd-Max or mu-law)."""

from __future__ import annotations

import argparse

from ._args import _levels_arg


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
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output image file")
    add_options(p)
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_quantize)


def add_options(p: argparse.ArgumentParser) -> None:
    """Adds the options of ``quantize`` (shared with ``qfast batch quantize``)."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--levels", type=_levels_arg, help="levels per channel, 2..256 (one, or one per channel: 8,8,4)")
    g.add_argument("--bits", type=_levels_arg, help="bits per channel, 1..8 (levels = 2**bits)")
    p.add_argument("--method", choices=["uniform", "lloyd-max", "mu-law"], default="uniform")
    p.add_argument(
        "--reconstruction",
        choices=["midpoint", "full-range"],
        default="midpoint",
        help="uniform only: bin middles (least error) or 0..255 end to end",
    )


def options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.quantize_file` from parsed arguments."""
    return {"levels": args.levels, "bits": args.bits, "method": args.method, "reconstruction": args.reconstruction}


def _run_quantize(args: argparse.Namespace) -> int:
    from .._ops import quantize_file

    quantize_file(args.input, args.output, force=args.force, metrics=False, **options(args))
    return 0
