"""``qfast demo``: quantize a bundled sample photo several ways and print what each costs (:mod:`qfast.demo`)."""

from __future__ import annotations

import argparse

from ._args import add_quiet


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``demo`` to the subcommands."""
    _add_demo(sub)


def _add_demo(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="quantize a bundled sample photo several ways and print what each costs",
        description="Quantize a bundled sample photo at several levels and methods, print PSNR, SSIM and packed "
        "size, and write a side-by-side comparison image.",
    )
    p.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        default="qfast-demo.png",
        help="comparison image to write (default qfast-demo.png; a free name is chosen if it exists)",
    )
    from ..samples import names

    p.add_argument("--sample", default="parrots", help=f"which bundled sample: {', '.join(names())} (default parrots)")
    add_quiet(p)
    p.set_defaults(run=lambda a: __import__("qfast.demo", fromlist=["run"]).run(a.output, a.sample, a.quiet))
