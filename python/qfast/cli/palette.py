"""``qfast palette``: reduce an image to K colours and write an indexed PNG or GIF (or an animated sweep of K)."""

from __future__ import annotations

import argparse

from ._args import _levels_arg


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``palette`` to the subcommands."""
    _add_palette(sub)


def _add_palette(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "palette",
        help="reduce an image to K colours and write an indexed PNG or GIF",
        description="Reduce IN to a palette of K colours (k-means) and write an indexed (palette) image to OUT, PNG "
        "or GIF by extension. With --sweep, write an animated GIF (or PNG) stepping through several palette sizes.",
    )
    p.add_argument("input", metavar="IN", help="image file (PNG, JPEG, WebP, TIFF, ...)")
    p.add_argument("-o", "--output", metavar="OUT", required=True, help="output file (.png or .gif)")
    add_options(p)
    p.add_argument("--force", action="store_true", help="overwrite OUT if it exists")
    p.set_defaults(run=_run_palette)


def add_options(p: argparse.ArgumentParser, shared: bool = False) -> None:
    """Adds the options of ``palette`` (shared with ``qfast batch palette``, which adds ``--shared K``)."""
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--colors", type=int, metavar="K", help="palette size, 1..256 (one palette per image)")
    g.add_argument(
        "--sweep", type=_levels_arg, metavar="K,K,...", help="palette sizes for an animation, e.g. 1,5,10,20,40"
    )
    if shared:
        g.add_argument(
            "--shared",
            type=int,
            metavar="K",
            help="one palette of K colours for all inputs (k-means on the sum of their colour histograms), then "
            "every file mapped onto it",
        )
    p.add_argument("--dither", choices=["none", "floyd-steinberg", "atkinson", "bayer4", "bayer8"], default="none")
    p.add_argument("--color-space", choices=["rgb", "oklab"], default="rgb", help="where distances are measured")
    p.add_argument(
        "--method",
        choices=["kmeans", "median-cut", "kmeans++"],
        default="kmeans",
        help="kmeans (best), median-cut (fastest) or kmeans++ (seeded by --seed)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of kmeans++ (default 0)")
    p.add_argument("--duration", type=int, default=800, help="--sweep: milliseconds per frame (default 800)")


def options(args: argparse.Namespace) -> dict:
    """The keyword options of :func:`qfast._ops.palette_file` from parsed arguments (``shared`` aside)."""
    ks = None if args.sweep is None else ([args.sweep] if isinstance(args.sweep, int) else args.sweep)
    return {
        "colors": args.colors,
        "sweep": ks,
        "dither": args.dither,
        "color_space": args.color_space,
        "method": args.method,
        "seed": args.seed,
        "duration": args.duration,
    }


def _run_palette(args: argparse.Namespace) -> int:
    from .._ops import palette_file

    palette_file(args.input, args.output, force=args.force, metrics=False, **options(args))
    return 0
